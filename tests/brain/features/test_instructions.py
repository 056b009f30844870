"""Instruction presets and user instruction files."""

from __future__ import annotations

from pathlib import Path

import pytest

from brain.features.instructions import (
    AUDIO,
    VIDEO,
    load_instructions,
    parse_instructions,
)


def test_presets_match_the_paper_counts_and_have_unique_names() -> None:
    assert len(VIDEO) == 13 and len(AUDIO) == 5  # Oota et al.: 13 video and 5 audio tasks
    for preset in (VIDEO, AUDIO):
        names = [i.name for i in preset]
        assert len(set(names)) == len(names)
        assert all(i.text.endswith((".", "?")) for i in preset)
    assert load_instructions("video") == VIDEO and load_instructions("none") == () == load_instructions(None)
    assert load_instructions("audio-visual") == VIDEO  # instructions=auto for an audio-visual model


def test_file_with_names_comments_and_plain_lines(tmp_path: Path) -> None:
    f = tmp_path / "tasks.txt"
    f.write_text("# my tasks\n\nfaces: Are there faces in this clip?\nWhat is the weather like?\n"
                 "What is the weather like?\n")
    got = load_instructions(f)
    assert [i.name for i in got] == ["faces", "what_is_the_weather_like", "what_is_the_weather_like_2"]
    assert got[0].text == "Are there faces in this clip?"
    assert got[1].text == "What is the weather like?"


@pytest.mark.parametrize("text", ["", "\n  \n# only a comment\n"])
def test_empty_instruction_file_is_an_error(tmp_path: Path, text: str) -> None:
    f = tmp_path / "empty.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match="no instructions"):
        load_instructions(f)


def test_duplicate_names_and_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="used twice"):
        parse_instructions("a: one\na: two")
    with pytest.raises(FileNotFoundError, match="neither a preset"):
        load_instructions(tmp_path / "nope.txt")
