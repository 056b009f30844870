"""Parcel-level encoding: each parcel of an atlas becomes one response, the mean of its
usable voxels, and the whole pipeline (FIR ridge, ceilings, permutation p-values, BH-FDR
over parcels, comparisons) runs on the parcels as it runs on voxels.

Why parcel means rather than voxel fits summarised per parcel: averaging a parcel's voxels
keeps the response they share and averages their independent noise away, so each parcel's
ceiling and test r are estimated at a higher SNR than any of its voxels'; the statistics are
then made once per parcel (FDR over parcels, not over voxels whose summaries would be
correlated); it is what the model comparisons of Algonauts 2025 report (1,000 Schaefer
parcels) and it fits one model per parcel instead of per voxel. What it gives up: a parcel
whose voxels respond differently (one to early, one to late layers) is summarised by a
blend; fit voxels (no atlas) to see within-parcel structure.

Atlases are the user's files, never downloaded: a NIfTI label image on the BOLD grid, a
GIfTI label file on fsaverage5 (one of 20,484 vertices, or a left/right pair of 10,242
each), or a ``.npy`` of one label per voxel; label 0 is the background (in no parcel); an
optional TSV (``index`` and ``name`` columns, BIDS ``dseg.tsv`` style) names the labels.
:func:`synthetic_atlas` makes one for the synthetic default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brain.dataset import EncodingData

N_HEMI = 10242  # fsaverage5 vertices per hemisphere


@dataclass(frozen=True)
class Parcels:
    """``of_voxel`` (n_voxels,) the parcel index (0 .. n_parcels - 1) of each voxel of the
    source data, -1 for voxels in no parcel; ``names`` one per parcel; ``labels`` the atlas
    label of each parcel; ``vertices`` / ``mask``: where the source voxels are, for maps;
    ``source``: the atlas file(s)."""

    of_voxel: np.ndarray
    names: tuple[str, ...]
    labels: tuple[int, ...]
    vertices: np.ndarray | None = None
    mask: Any = None
    source: str = ""

    def __post_init__(self) -> None:
        of = np.asarray(self.of_voxel)
        if of.ndim != 1 or of.dtype.kind not in "iu":
            raise ValueError(f"of_voxel must be a 1-D integer array, got {of.dtype} {of.shape}")
        if len(self.names) != len(self.labels):
            raise ValueError(f"{len(self.names)} parcel names for {len(self.labels)} labels")
        if of.size and (of.min() < -1 or of.max() >= len(self.names)):
            raise ValueError(f"parcel indices span {of.min()}..{of.max()}, {len(self.names)} parcels")
        if len(self.names) == 0:
            raise ValueError(f"the atlas {self.source or ''} puts no voxel in a parcel (every label is 0)")

    @property
    def sizes(self) -> np.ndarray:
        """Voxels per parcel."""
        of = np.asarray(self.of_voxel)
        return np.bincount(of[of >= 0], minlength=len(self.names))

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Per-parcel ``values`` (n_parcels,) painted onto the source voxels (NaN outside)."""
        values = np.asarray(values, float)
        if values.shape != (len(self.names),):
            raise ValueError(f"need one value per parcel ({len(self.names)}), got {values.shape}")
        of = np.asarray(self.of_voxel)
        return np.where(of >= 0, values[np.maximum(of, 0)], np.nan)


def read_label_table(path: str | Path) -> dict[int, str]:
    """{label: name} from a TSV with ``index`` and ``name`` columns."""
    from brain.loaders import read_table

    p = Path(path).expanduser()
    rows = read_table(p, "atlas label table", ("index", "name"))
    try:
        return {int(r["index"]): str(r["name"]) for r in rows}
    except ValueError as e:
        raise ValueError(f"{p}: index must be whole numbers: {e}") from None


def from_labels(labels: np.ndarray, table: dict[int, str] | None = None, source: str = "",
                vertices: np.ndarray | None = None, mask: Any = None) -> Parcels:
    """:class:`Parcels` from one integer atlas label per voxel (0: background). Names from
    ``table`` ({label: name}; every label used must be in it), else ``parcel_<label>``."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{source}: need one atlas label per voxel, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ValueError(f"{source}: atlas labels must be whole numbers")
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise ValueError(f"{source}: atlas labels must be whole numbers >= 0 (0: background)")
    used = [int(v) for v in np.unique(labels) if v != 0]
    if table is not None:
        missing = [v for v in used if v not in table]
        if missing:
            raise ValueError(f"{source}: labels {missing[:10]} are not in the label table")
    names = tuple(table[v] if table is not None else f"parcel_{v}" for v in used)
    index = {v: i for i, v in enumerate(used)}
    of = np.array([index.get(int(v), -1) for v in labels], np.int64)
    return Parcels(of, names, tuple(used), vertices, mask, source)


def read_atlas(path: str | Path | list[str | Path], n_vox: int, mask: Any = None,
               vertices: np.ndarray | None = None, table: str | Path | None = None) -> Parcels:
    """The parcels of the data's ``n_vox`` voxels from an atlas file: a NIfTI label image on
    the grid of the volume ``mask`` (path or image; refused on another grid), a GIfTI label
    file on fsaverage5 read at ``vertices`` (20,484 values, or a [left, right] pair of
    10,242 each: the right hemisphere's labels are offset past the left's so that they stay
    distinct parcels), or a ``.npy`` of ``n_vox`` labels. ``table``: the labels' names (TSV);
    by default the ``.tsv`` beside a single atlas file, if there is one (BIDS ``dseg``)."""
    paths = [Path(p).expanduser() for p in (path if isinstance(path, (list, tuple)) else [path])]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"atlas {p}: no such file")
    beside = Path(re.sub(r"(\.label)?\.(nii\.gz|nii|gii|npy)$", "", str(paths[0]), flags=re.I) + ".tsv")
    if table is None and len(paths) == 1 and beside.is_file():
        table = beside  # the BIDS dseg convention: the label table beside the image
    names = None if table is None else read_label_table(table)
    src = ", ".join(str(p) for p in paths)
    low = paths[0].name.lower()
    if low.endswith((".nii", ".nii.gz")):
        if mask is None:
            raise ValueError(f"{src}: a volume atlas needs volumetric data (a mask); these data have none")
        labels = _volume_labels(paths[0], mask)
    elif low.endswith(".gii"):
        if vertices is None:
            raise ValueError(f"{src}: a surface atlas needs data on fsaverage5 (vertex indices); these have none")
        full = np.concatenate(_gifti_labels(paths))
        labels = full[np.asarray(vertices)]
    elif low.endswith(".npy"):
        labels = np.load(paths[0], allow_pickle=False)
    else:
        raise ValueError(f"{src}: an atlas is a NIfTI label image, a GIfTI label file or a .npy of labels")
    if labels.shape != (n_vox,):
        raise ValueError(f"{src}: {labels.size} atlas labels for {n_vox} voxels")
    return from_labels(labels, names, src, vertices, mask)


def _volume_labels(p: Path, mask: Any) -> np.ndarray:
    import nibabel as nib

    from brain.loaders import same_grid

    try:
        img = nib.load(str(p))
        m = nib.load(str(mask)) if isinstance(mask, (str, Path)) else mask
    except Exception as exc:
        raise ValueError(f"{p}: cannot read the atlas: {type(exc).__name__}: {exc}") from None
    if not same_grid(img, m):
        raise ValueError(f"{p}: the atlas is on another grid (shape {img.shape[:3]}) than the BOLD mask (shape "
                         f"{m.shape[:3]}); resample it onto the BOLD grid first (nearest neighbour)")
    if len(img.shape) > 3 and int(np.prod(img.shape[3:])) != 1:
        raise ValueError(f"{p}: a label image is 3-D, got shape {img.shape}")
    return np.asarray(img.dataobj).reshape(img.shape[:3])[np.asarray(m.dataobj) > 0]


def _gifti_labels(paths: list[Path], distinct_hemispheres: bool = True) -> list[np.ndarray]:
    """The labels of one GIfTI label file of both hemispheres (20,484) or of a [left, right]
    pair (10,242 each); ``distinct_hemispheres``: the right hemisphere's labels offset past
    the left's (a label then names a parcel of one hemisphere), else kept as they are (a label
    names a region of both hemispheres)."""
    import nibabel as nib

    out, offset = [], 0
    for p in paths:
        try:
            arrays = nib.load(str(p)).darrays
        except Exception as exc:
            raise ValueError(f"{p}: cannot read the GIfTI atlas: {type(exc).__name__}: {exc}") from None
        if len(arrays) != 1:
            raise ValueError(f"{p}: a GIfTI label file holds one data array, got {len(arrays)}")
        values = np.asarray(arrays[0].data).ravel()
        want = 2 * N_HEMI if len(paths) == 1 else N_HEMI
        if values.size != want:
            raise ValueError(f"{p}: {values.size} labels; fsaverage5 has {want} vertices "
                             f"{'in all' if len(paths) == 1 else 'per hemisphere'}")
        values = values.astype(np.int64)
        out.append(np.where(values > 0, values + offset, 0))
        offset = int(out[-1].max()) if distinct_hemispheres else 0
    if len(paths) not in (1, 2):
        raise ValueError("give one GIfTI atlas of both hemispheres or a [left, right] pair")
    return out


def synthetic_atlas(data: EncodingData, per_region: int = 2) -> Parcels:
    """An atlas for data on fsaverage5 (the synthetic default): each region's vertices split
    into ``per_region`` parcels, by hemisphere and then by vertex order (``per_region`` 1:
    the regions themselves)."""
    if data.vertices is None:
        raise ValueError("the synthetic atlas needs fsaverage5 vertex indices")
    if per_region < 1:
        raise ValueError(f"per_region must be >= 1, got {per_region}")
    labels = np.zeros(data.region.size, np.int64)
    names = {}
    for r, name in enumerate(data.region_names):
        idx = np.flatnonzero(data.region == r)
        idx = idx[np.argsort(data.vertices[idx], kind="stable")]  # left hemisphere first
        for k, part in enumerate(np.array_split(idx, per_region)):
            label = r * per_region + k + 1
            labels[part] = label
            names[label] = f"{name}_{k + 1}" if per_region > 1 else name
    return from_labels(labels, names, f"synthetic ({per_region} per region)", data.vertices, data.mask)


def parcel_means(Y: np.ndarray, parcels: Parcels, usable: np.ndarray | None = None) -> np.ndarray:
    """(..., n_voxels) -> (..., n_parcels): the mean of each parcel's voxels (``usable``,
    (n_voxels,) bool, only those; a parcel with none is 0, which the pipeline flags as
    constant)."""
    Y = np.asarray(Y)
    of = np.asarray(parcels.of_voxel)
    if Y.shape[-1] != of.size:
        raise ValueError(f"data have {Y.shape[-1]} voxels, the atlas {of.size}")
    use = (of >= 0) if usable is None else (of >= 0) & np.asarray(usable, bool)
    n = len(parcels.names)
    onehot = np.zeros((of.size, n))
    onehot[np.flatnonzero(use), of[use]] = 1.0
    counts = onehot.sum(axis=0)
    return (np.nan_to_num(Y, nan=0.0) @ (onehot / np.maximum(counts, 1))).astype(Y.dtype)


def parcellate(data: EncodingData, parcels: Parcels) -> EncodingData:
    """``data`` with each parcel as one response (the mean of the subject's usable voxels of
    the parcel, train and test), each parcel in the region most of its voxels are in,
    ``parcels`` kept for the maps and the tables."""
    of = np.asarray(parcels.of_voxel)
    if of.size != data.bold_train.shape[2]:
        raise ValueError(f"the atlas {parcels.source} labels {of.size} voxels, the data have "
                         f"{data.bold_train.shape[2]}")
    usable = ~data.bad_voxels
    train = np.stack([parcel_means(y, parcels, u) for y, u in zip(data.bold_train, usable)])
    test = np.stack([parcel_means(y, parcels, u) for y, u in zip(data.bold_test, usable)])
    n = len(parcels.names)
    region = np.array([np.bincount(data.region[of == p], minlength=len(data.region_names)).argmax()
                       for p in range(n)])
    sizes = parcels.sizes
    note = (f"parcel-level: {n} parcels of {parcels.source} (voxels per parcel: median {int(np.median(sizes))}, "
            f"{int(sizes.min())}-{int(sizes.max())}; {int((of < 0).sum())} voxels in no parcel left out), each fit on "
            "the mean of its voxels")
    base = {f: getattr(data, f) for f in ("features_train", "features_test", "runs", "region_names", "spaces", "tr",
                                           "instructions", "confounds_train", "confounds_test", "study", "stimuli",
                                           "sample_mask_train", "sample_mask_test")}
    return EncodingData(bold_train=train, bold_test=test, region=region, vertices=None, mask=None,
                        notes=(*data.notes, note), parcels=parcels, **base)



def parcel_table(parcels: Parcels, region: np.ndarray, region_names: tuple[str, ...], spaces: tuple[str, ...],
                 r: list[np.ndarray], cv: list[np.ndarray], pvalues: list[np.ndarray], keep: np.ndarray,
                 ceiling: np.ndarray, bad: np.ndarray, fdr_alpha: float) -> dict[str, dict[str, Any]]:
    """Per parcel: its atlas label, region and voxel count, in how many subjects it is kept and
    its mean dividing ceiling; per feature space the best layer by the subjects' mean training
    CV score (never test r), that layer's mean test r and in how many subjects it is
    significant (BH-FDR over the subject's usable parcels at ``fdr_alpha``). ``r``, ``cv``,
    ``pvalues``: per space (n_subjects, n_layers, n_parcels); ``keep``, ``ceiling``, ``bad``
    (n_subjects, n_parcels)."""
    from brain.stats import fdr_bh

    sizes = parcels.sizes
    out: dict[str, dict[str, Any]] = {}
    per_space = {}
    for space, r_, cv_, p_ in zip(spaces, r, cv, pvalues, strict=True):
        cv_mean = np.nanmean(np.where(bad[:, None], np.nan, cv_), axis=0)  # (n_layers, n_parcels)
        best = np.where(np.isfinite(cv_mean).any(axis=0), np.nanargmax(np.nan_to_num(cv_mean, nan=-np.inf), axis=0), -1)
        sig = np.stack([[fdr_bh(np.where(b, np.nan, p), alpha=fdr_alpha).rejected for p in subj]
                        for subj, b in zip(p_, bad)])  # (n_subjects, n_layers, n_parcels)
        per_space[space] = (best, r_, sig)
    for j, name in enumerate(parcels.names):
        c = np.where(bad[:, j], np.nan, ceiling[:, j])
        row: dict[str, Any] = {"label": int(parcels.labels[j]), "region": region_names[int(region[j])],
                               "voxels": int(sizes[j]), "kept_subjects": int(keep[:, j].sum()),
                               "ceiling": float(np.nanmean(c)) if np.isfinite(c).any() else None}
        for space, (best, r_, sig) in per_space.items():
            k = int(best[j])
            vals = np.where(bad[:, j], np.nan, r_[:, k, j]) if k >= 0 else np.full(r_.shape[0], np.nan)
            row[space] = {"best_layer": k if k >= 0 else None,
                          "test_r": float(np.nanmean(vals)) if np.isfinite(vals).any() else None,
                          "significant_subjects": int(sig[:, k, j].sum()) if k >= 0 else 0}
        out[name] = row
    return out
