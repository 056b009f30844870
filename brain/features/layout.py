"""The HDF5 layout of a features file (read by :func:`brain.loaders.load_features`).

``/<instruction>/layer_00 ..`` (n_clips, hidden) float32 with the instruction text as the
group's ``instruction`` attribute, or ``/layer_00 ..`` at the root for a plain encoder;
``/clips/window`` (n_clips, 2) start and stop (s) of each clip's input window; the model,
TR and clip settings as root attributes. :func:`write_features` writes it to the path it
is given; the runner (``task=features``) gives a temporary one and renames it into place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ROOT = "_root"  # group name of a plain encoder's features (stored at the file's root)


def write_features(path: str | Path, groups: dict[str, str | None], rows: dict[str, np.ndarray],
                   windows: np.ndarray, attrs: dict[str, Any]) -> None:
    """Write the features file at ``path``. ``groups``: {group name: instruction text}, or
    {ROOT: None} for a plain encoder; ``rows``: {group name: (n_clips, n_layers, hidden)};
    ``windows``: (n_clips, 2) clip windows (s); ``attrs``: root attributes (scalars or str)."""
    import h5py

    n = len(windows)
    for name in groups:
        if name not in rows or rows[name].ndim != 3 or rows[name].shape[0] != n:
            got = None if name not in rows else rows[name].shape
            raise ValueError(f"features of group {name!r}: need ({n}, n_layers, hidden), got {got}")
    with h5py.File(path, "w") as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        f.create_dataset("clips/window", data=np.asarray(windows, np.float64))
        for name, text in groups.items():
            g = f if text is None else f.create_group(name)
            if text is not None:
                g.attrs["instruction"] = text
            for layer in range(rows[name].shape[1]):
                g.create_dataset(f"layer_{layer:02d}", data=np.asarray(rows[name][:, layer], np.float32))
