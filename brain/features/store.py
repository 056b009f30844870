"""Resumable, crash-safe storage of extracted features, assembled into one HDF5 file.

While extraction runs, each finished batch of clips is one ``.npy`` chunk in
``<out>.partial/`` (written to a temporary name, then renamed, so a killed run leaves only
whole chunks), beside a ``manifest.json`` of everything that determines the features.
``resume`` skips finished chunks after checking the manifest. When every chunk is there,
the HDF5 file is written to a temporary name and renamed onto ``out``; the partial
directory is removed only then.

HDF5 layout (read by :func:`brain.loaders.load_features`, ``group=`` per instruction):
``/<instruction>/layer_00 ..`` (n_clips, hidden) float32 with the instruction text as the
group's ``instruction`` attribute, or ``/layer_00 ..`` at the root for a plain encoder;
``/clips/window`` (n_clips, 2) start and stop (s) of each clip's input window; the model,
TR and clip settings as root attributes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

ROOT = "_root"  # chunk folder of a plain encoder's features (no instruction group)


def _atomic_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class FeatureStore:
    """Chunks of one extraction (see module docstring)."""

    def __init__(self, out: str | Path, manifest: dict[str, Any], resume: bool = False) -> None:
        self.out = Path(out)
        if self.out.suffix not in (".h5", ".hdf5"):
            raise ValueError(f"output {self.out} must end in .h5 or .hdf5")
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.manifest = json.loads(json.dumps(manifest))  # plain JSON types, as stored
        if self.out.exists():
            raise FileExistsError(f"{self.out} exists; choose another output or delete it")
        if self.partial.exists():
            if not resume:
                raise FileExistsError(f"{self.partial} holds an unfinished extraction: pass resume=true to "
                                      "continue it, or delete it to start again")
            self._check_manifest()
        else:
            self.partial.mkdir(parents=True)
            _atomic_bytes(self.partial / "manifest.json",
                          lambda f: f.write(json.dumps(self.manifest, indent=2, sort_keys=True).encode()))

    def _check_manifest(self) -> None:
        path = self.partial / "manifest.json"
        if not path.is_file():
            raise ValueError(f"{self.partial} has no manifest.json: not an extraction folder; delete it")
        stored = json.loads(path.read_text())
        changed = sorted(k for k in set(stored) | set(self.manifest) if stored.get(k) != self.manifest.get(k))
        if changed:
            detail = "; ".join(f"{k}: {stored.get(k)!r} -> {self.manifest.get(k)!r}" for k in changed)
            raise ValueError(f"cannot resume {self.partial}: settings changed ({detail})")

    def _chunk(self, group: str, start: int) -> Path:
        return self.partial / group / f"{start:07d}.npy"

    def has(self, group: str, start: int) -> bool:
        return self._chunk(group, start).is_file()

    def put(self, group: str, start: int, values: np.ndarray) -> None:
        """Store rows ``start ..`` (n_rows, n_layers, hidden) of ``group`` atomically."""
        path = self._chunk(group, start)
        path.parent.mkdir(exist_ok=True)
        _atomic_bytes(path, lambda f: np.save(f, np.asarray(values, np.float32), allow_pickle=False))

    def _rows(self, group: str, n_rows: int) -> np.ndarray:
        folder = self.partial / group
        chunks = sorted(folder.glob("*.npy")) if folder.is_dir() else []
        parts, expected = [], 0
        for path in chunks:
            start = int(path.stem)
            if start != expected:
                raise ValueError(f"{folder}: rows {expected}..{start - 1} are missing")
            parts.append(np.load(path, allow_pickle=False))
            expected += parts[-1].shape[0]
        if expected != n_rows:
            raise ValueError(f"{folder}: {expected} of {n_rows} rows extracted")
        return np.concatenate(parts)

    def finish(self, groups: dict[str, str | None], windows: np.ndarray, attrs: dict[str, Any]) -> Path:
        """Write the HDF5 file from all chunks. ``groups``: {group name: instruction text},
        or {ROOT: None} for a plain encoder's features at the file's root."""
        import h5py

        n = len(windows)
        data = {g: self._rows(g, n) for g in groups}
        tmp = self.out.with_name(f".{self.out.name}.tmp{os.getpid()}")
        try:
            with h5py.File(tmp, "w") as f:
                for key, value in attrs.items():
                    f.attrs[key] = value
                f.create_dataset("clips/window", data=np.asarray(windows, np.float64))
                for name, text in groups.items():
                    g = f if text is None else f.create_group(name)
                    if text is not None:
                        g.attrs["instruction"] = text
                    for layer in range(data[name].shape[1]):
                        g.create_dataset(f"layer_{layer:02d}", data=data[name][:, layer])
            os.replace(tmp, self.out)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(self.partial)
        return self.out
