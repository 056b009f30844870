"""Tiny random models of every supported family, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from brain.features.tiny import FAMILIES, write_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    return {f: write_tiny_model(f, root / f) for f in FAMILIES}
