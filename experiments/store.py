"""A resumable store: the finished pieces of one long job, kept so a killed job loses none.

Each piece is a named set of arrays, one ``<name>.npz`` written atomically
(:func:`experiments.io.write_npz`), so a killed job leaves only whole pieces. Beside them,
``manifest.json`` records everything that determines the pieces; opening the folder again
with ``resume=True`` checks it against the job's and names every setting that changed, so
a resumed job never mixes pieces of two different jobs. Used by the encoding task (one
piece per subject and feature space) and the feature extraction (one piece per batch of
clips and instruction).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from experiments.io import write_json, write_npz
from experiments.validate import differences

MANIFEST = "manifest.json"


class ResumableStore:
    """Pieces of one job in ``folder`` (see module docstring). ``what`` names the job in
    errors ("encoding run", "feature extraction")."""

    def __init__(self, folder: str | Path, manifest: dict[str, Any], resume: bool, what: str = "job") -> None:
        self.dir = Path(folder)
        self.what = what
        self.manifest = json.loads(json.dumps(manifest))  # plain JSON types, as stored
        path = self.dir / MANIFEST
        if path.exists():
            if not resume:
                raise FileExistsError(f"{self.dir} holds an unfinished {what}: pass resume=true to continue it, "
                                      "or delete the folder to start again")
            self._check(path)
        elif self.dir.exists() and any(self.dir.iterdir()):
            raise ValueError(f"{self.dir} holds files but no {MANIFEST}: not the folder of a {what}; delete it "
                             "or choose another output")
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json(path, self.manifest)

    def _check(self, path: Path) -> None:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot resume from {self.dir}: {MANIFEST} is unreadable ({exc}); delete the "
                             "folder to start again") from exc
        diff = differences(stored, self.manifest) if isinstance(stored, dict) else [f"{MANIFEST} is not an object"]
        if diff:
            raise ValueError(f"cannot resume the {self.what} in {self.dir}: settings differ: " + "; ".join(diff))

    def _path(self, name: str) -> Path:
        if not name or name.startswith(("/", ".")) or ".." in Path(name).parts or name == MANIFEST:
            raise ValueError(f"invalid piece name {name!r}")
        return self.dir / f"{name}.npz"

    def has(self, name: str) -> bool:
        """Whether the piece ``name`` is finished."""
        return self._path(name).is_file()

    def get(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of piece ``name``, or None if it is not finished."""
        path = self._path(name)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def put(self, name: str, **arrays: Any) -> None:
        """Store piece ``name`` (``/`` in a name makes a subfolder) atomically."""
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, **arrays)

    def remove(self) -> None:
        """Delete the folder (once the job's result is safely written elsewhere)."""
        shutil.rmtree(self.dir)
