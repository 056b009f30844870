"""What audio.py and video.py share: the optional media modules and opening files with PyAV.

PyAV, soundfile and soxr are imported on first use (``_require``), so the media modules import
without them; using them without them raises an ``ImportError`` that says how to install them
(``INSTALL_HINT``). ``_open_container`` opens any audio or video file with PyAV and turns its
errors into ``ValueError`` naming the file; ``_check_decoder`` rejects streams FFmpeg cannot decode.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

INSTALL_HINT = 'pip install -e ".[features]"'


def _require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"reading media needs the optional module {name!r}; install it with {INSTALL_HINT}"
        ) from err


def _open_container(p: Path) -> Any:
    av = _require("av")
    try:
        return av.open(str(p))
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise ValueError(f"{p}: cannot read as a media file ({err}); is it truncated or not audio/video?") from err


def _stream_types(container: Any) -> str:
    return ", ".join(s.type for s in container.streams) or "none"


def _check_decoder(stream: Any, p: Path) -> None:
    """ValueError when FFmpeg has no decoder for ``stream`` (an unknown or corrupt codec tag)."""
    if stream.codec_context is None:
        raise ValueError(f"{p}: no decoder for its {stream.type} stream (unknown or corrupt codec); "
                         "is the file corrupt?")
