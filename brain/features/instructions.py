"""Task instructions given to instruction-tuned models, one feature set per instruction.

Presets in the spirit of Oota et al. (2025): 13 video and 5 audio tasks (scene
description, action recognition, counting, emotion, spoken content, sound events, ...),
written for callosum. A user file holds one instruction per line, optionally named as
``name: text``; blank lines and lines starting with ``#`` are ignored. Names become HDF5
groups of the feature file, so ``clips`` and ``_root`` (used by the feature store) are
reserved; unnamed lines get a name derived from their text that avoids every other name.
A file that is not UTF-8 text, or has no instruction, raises a ``ValueError`` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """A task prompt: ``name`` (a valid HDF5 group name) and the ``text`` given to the model."""

    name: str
    text: str


VIDEO: tuple[Instruction, ...] = (
    Instruction("scene", "Describe the scene in this video clip in one sentence."),
    Instruction("action", "What action is happening in this video clip?"),
    Instruction("objects", "List the main objects visible in this video clip."),
    Instruction("count_people", "How many people are in this video clip?"),
    Instruction("count_objects", "How many distinct objects can you see in this video clip?"),
    Instruction("emotion", "What emotion do the people in this video clip express?"),
    Instruction("place", "Where does this video clip take place?"),
    Instruction("colour", "What are the dominant colours in this video clip?"),
    Instruction("motion", "Describe how the camera and the objects move in this video clip."),
    Instruction("interaction", "How are the people in this video clip interacting with each other?"),
    Instruction("text", "Is there any written text visible in this video clip? If so, what does it say?"),
    Instruction("next_event", "What is likely to happen right after this video clip?"),
    Instruction("summary", "Summarise what happens in this video clip."),
)

AUDIO: tuple[Instruction, ...] = (
    Instruction("speech", "Transcribe what is said in this audio clip."),
    Instruction("sound_events", "What sounds can you hear in this audio clip?"),
    Instruction("speaker_emotion", "What emotion does the speaker's voice convey in this audio clip?"),
    Instruction("music", "Is there music in this audio clip? Describe it."),
    Instruction("audio_scene", "Describe the acoustic scene of this audio clip in one sentence."),
)

# Audio-visual models (a movie with its sound) get the video tasks.
PRESETS: dict[str, tuple[Instruction, ...]] = {"video": VIDEO, "audio": AUDIO, "audio-visual": VIDEO, "none": ()}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = frozenset({"clips", "_root"})  # the feature file's clips group, the store's root chunks


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "instruction"
    base = base if _NAME.match(base) else f"i_{base}"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def parse_instructions(text: str, source: str = "<text>") -> tuple[Instruction, ...]:
    """Instructions from the lines of ``text`` (see module docstring)."""
    entries: list[tuple[int, str | None, str]] = []  # (line number, explicit name, prompt)
    named: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        if sep and _NAME.match(name.strip()) and rest.strip():
            name = name.strip()
            if name in named:
                raise ValueError(f"{source}, line {number}: instruction name {name!r} used twice")
            if name in RESERVED:
                raise ValueError(f"{source}, line {number}: instruction name {name!r} is reserved "
                                 f"(reserved: {', '.join(sorted(RESERVED))})")
            named.add(name)
            entries.append((number, name, rest.strip()))
        else:
            entries.append((number, None, line))
    taken = named | RESERVED  # derived names avoid every explicit one, wherever it appears
    out: list[Instruction] = []
    for _, name, prompt in entries:
        if name is None:
            name = _slug(prompt, taken)
            taken.add(name)
        out.append(Instruction(name, prompt))
    if not out:
        raise ValueError(f"{source}: no instructions (the file is empty or only comments)")
    return tuple(out)


def load_instructions(spec: str | Path | None) -> tuple[Instruction, ...]:
    """A preset name (``video``, ``audio``, ``audio-visual`` (the video tasks), ``none``), or
    a text file of instructions.

    ``None`` and ``none`` mean no instruction (plain encoders)."""
    if spec is None:
        return ()
    key = str(spec)
    if key in PRESETS:
        return PRESETS[key]
    path = Path(key).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"instructions {key!r}: neither a preset ({', '.join(PRESETS)}) "
                                f"nor an existing file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a leading byte-order mark is not text
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: instructions must be UTF-8 text; byte {err.start} is not "
                         f"({err.reason})") from err
    return parse_instructions(text, source=str(path))
