"""A small fMRIPrep-shaped BIDS study written from the synthetic experiment, so the BIDS path
(:mod:`brain.bids`) can be run and tested end to end offline.

The synthetic experiment (:func:`brain.synthetic.make_synthetic`) gives per subject one run
per training stimulus and ``n_repeats`` presentations of a test stimulus (with
``n_test_stimuli`` > 1, the synthetic test segment cut into that many test stimuli
``clip_test1``, ``clip_test2``, ..., each presented ``n_repeats`` times in runs of its own). With
``train_repeats`` > 1 the first training stimulus (``clip01``) is shown in that many runs,
each a fresh presentation (the same planted response, its own AR(1) noise), so the default
leave-one-run-out CV must refuse the study and ``task.cv=by_stimulus`` can fit it. They
are written as runs of one BIDS task, in a different order for each subject:

- ``<root>/sub-XX/func/sub-XX_task-<task>_run-N_events.tsv`` (one row: the stimulus, with
  its ``stim_file``) and ``..._bold.json`` (``RepetitionTime``);
- ``<root>/derivatives/fmriprep/sub-XX/func/``: ``..._space-<space>_desc-preproc_bold.nii.gz``
  (the voxels laid out in C order inside a box, 3 mm, around a baseline of 100),
  ``..._space-<space>_desc-brain_mask.nii.gz``, ``..._desc-confounds_timeseries.tsv`` (+ JSON):
  the six motion parameters with fMRIPrep's derivative and power columns,
  ``framewise_displacement``, ``white_matter``, ``csf``, ``global_signal`` and cosine drifts;
- ``<root>/features/<space>/<stimulus>.npz``: per-layer features of each stimulus (one row
  per TR, ``layer_00``, ...), as ``task=features`` writes them per stimulus;
- ``<root>/atlas/regions_dseg.nii.gz`` and ``regions_dseg.tsv``: the planted regions as a
  BIDS ``dseg`` label image (label 0 the background, region k labelled k + 1) with its names.

With ``space="fsaverage5"`` the runs are surfaces instead, as fMRIPrep writes them: per run
``..._hemi-L_space-fsaverage5_bold.func.gii`` and ``..._hemi-R_...`` (10,242 vertices each,
one float32 data array per volume with FreeSurfer's ``TimeStep`` metadata in ms, stored as
uncompressed base64, which nibabel reads as it reads fMRIPrep's gzipped arrays) with a JSON
sidecar each and no brain mask. The planted responses sit at the synthetic experiment's
vertices (``truth.vertices``, left then right, 0..20483), every other vertex is baseline plus
white noise of sd ``surface_noise``, except ``constant_vertices`` (64 per hemisphere), held at
0 like an unsampled medial wall; the drift is added to every vertex. The regions are a label
pair ``atlas/hemi-L_space-fsaverage5_dseg.label.gii`` / ``hemi-R_...`` (region k labelled
k + 1 in both hemispheres, 0 elsewhere) with ``atlas/space-fsaverage5_dseg.tsv``.

A confound drift is planted: each run's ``trans_x`` is a smooth random walk (its own per
subject and run, unrelated to the stimulus) that is added to every voxel with a loading of
``drift`` BOLD standard deviations, so regressing out the motion parameters removes it and
leaving them in costs accuracy.

High-motion volumes (``high_motion`` > 0) are planted for scrubbing: that many volumes per
run (at least ``SCRUB_GAP`` volumes apart and from the run's ends, so nilearn's default
minimum segment of 5 censors nothing more) get a ``framewise_displacement`` of
``HIGH_MOTION_FD`` mm and a ``std_dvars`` of ``HIGH_MOTION_DVARS`` (the rest of the example
stays below ``HIGH_MOTION_FD / 2`` and 2), and an artefact of ``spike`` BOLD standard
deviations (independent normal per voxel) added to the BOLD at those volumes; the planted
indices are in ``BidsExample.high_motion``. Only the generator is committed, never the data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brain.synthetic import SyntheticConfig, SyntheticData, ar1_noise, make_synthetic

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
BASELINE = 100.0
VOXEL_MM = 3.0
HIGH_MOTION_FD = 20.0  # mm; the example's own framewise displacement stays below 5 mm
HIGH_MOTION_DVARS = 10.0  # the example's own std_dvars is 1 +- 0.1
SCRUB_GAP = 6
SURFACE = "fsaverage5"
N_HEMI = 10242  # fsaverage5 vertices per hemisphere
N_CONSTANT = 64  # per hemisphere, held at 0 (an unsampled medial wall)


@dataclass(frozen=True)
class BidsExample:
    """What :func:`write_bids_example` wrote: the dataset ``root``, its fMRIPrep
    ``derivatives``, the BIDS ``task`` and ``space``, the feature directories per feature
    space, the ``atlas`` label image with its region names, the ``test_stimulus``, the
    planted ``truth`` (a :class:`brain.synthetic.SyntheticData`; its test TRs are the test
    stimuli one after the other) and, per subject, the runs' stimuli in the order they were
    written; ``test_stimuli``: every test stimulus (``test_stimulus`` is the first). On
    ``fsaverage5`` the ``atlas`` is the (left, right) label pair and ``constant_vertices`` the
    vertices held at 0."""

    root: Path
    derivatives: Path
    task: str
    space: str
    features: dict[str, Path]
    atlas: Path | tuple[Path, Path]
    regions: tuple[str, ...]
    test_stimulus: str
    truth: SyntheticData
    run_stimuli: dict[str, list[str]]
    test_stimuli: tuple[str, ...] = ()
    high_motion: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # sub -> BOLD file -> volumes
    constant_vertices: np.ndarray | None = None


def _grid(n_vox: int) -> tuple[int, int, int]:
    side = int(np.ceil(n_vox ** (1 / 3)))
    return side, side, int(np.ceil(n_vox / side**2))


def _affine() -> np.ndarray:
    return np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0]) + np.array(
        [[0, 0, 0, -30.0], [0, 0, 0, -40.0], [0, 0, 0, -20.0], [0, 0, 0, 0]])


def _volume(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n_trs, n_vox) -> 4-D (x, y, z, n_trs), voxels in ``mask``'s C order, 0 outside."""
    vol = np.zeros((*mask.shape, values.shape[0]), np.float32)
    vol[mask] = values.T
    return vol


def _drift(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth random walk, mean 0, sd 1, with its linear trend removed (so the per-run
    detrending of the pipeline cannot remove it)."""
    walk = np.cumsum(rng.standard_normal(n))
    walk = np.convolve(walk, np.ones(9) / 9, mode="same")
    t = np.arange(n)
    walk -= np.polyval(np.polyfit(t, walk, 1), t)
    return walk / walk.std()


def _cosines(n: int, tr: float, cutoff: float = 1 / 128) -> np.ndarray:
    """fMRIPrep's discrete-cosine drift regressors below ``cutoff`` Hz (n, k)."""
    k = int(np.floor(2 * n * tr * cutoff))
    t = np.arange(n)
    return np.stack([np.sqrt(2 / n) * np.cos(np.pi * (t + 0.5) * j / n) for j in range(1, k + 1)], axis=1) \
        if k else np.zeros((n, 0))


def _confounds(rng: np.random.Generator, drift: np.ndarray, bold: np.ndarray, tr: float,
               dvars_rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(drift)
    cols: dict[str, np.ndarray] = {}
    for name in MOTION:
        x = drift * 0.2 if name == "trans_x" else np.cumsum(rng.standard_normal(n)) * 0.01
        d = np.r_[np.nan, np.diff(x)]
        cols |= {name: x, f"{name}_derivative1": d, f"{name}_power2": x**2, f"{name}_derivative1_power2": d**2}
    dx = np.abs(np.diff(np.stack([cols[m] for m in MOTION], axis=1), axis=0))
    cols["framewise_displacement"] = np.r_[np.nan, dx[:, :3].sum(1) + 50 * dx[:, 3:].sum(1)]
    cols["std_dvars"] = np.r_[np.nan, 1 + 0.1 * dvars_rng.standard_normal(n - 1)]
    for name in ("white_matter", "csf"):
        cols[name] = rng.standard_normal(n)
    cols["global_signal"] = bold.mean(axis=1)
    for j, c in enumerate(_cosines(n, tr).T):
        cols[f"cosine{j:02d}"] = c
    return cols


def _high_motion_volumes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` sorted volumes of a run of ``n``, at least ``SCRUB_GAP`` apart and from both ends."""
    free = n - 2 * SCRUB_GAP - (k - 1) * SCRUB_GAP
    if k and free < k:
        raise ValueError(f"high_motion={k} volumes {SCRUB_GAP} apart do not fit in a run of {n} volumes")
    # k gaps drawn as a sorted sample of the slack, then spread SCRUB_GAP apart
    return np.sort(rng.choice(free, k, replace=False)) + SCRUB_GAP * (1 + np.arange(k)) if k else np.zeros(0, int)


def _write_gifti(path: Path, values: np.ndarray, tr: float) -> None:
    """(n_trs, n_vertices) as a GIfTI time series, one float32 data array per volume."""
    from nibabel import save
    from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiMetaData

    meta = GiftiMetaData({"TimeStep": f"{tr * 1000:f}"})  # FreeSurfer (mri_vol2surf) writes the TR in ms
    save(GiftiImage(darrays=[GiftiDataArray(v, intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32",
                                            encoding="GIFTI_ENCODING_B64BIN", meta=meta)
                             for v in np.asarray(values, np.float32)]), path)


def _write_label_pair(folder: Path, vertices: np.ndarray, region: np.ndarray, names: tuple[str, ...]
                      ) -> tuple[Path, Path]:
    from nibabel import save
    from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiLabel, GiftiLabelTable

    labels = np.zeros(2 * N_HEMI, np.int32)
    labels[vertices] = region + 1  # 0: background
    table = GiftiLabelTable()
    for key, name in enumerate(("background", *names)):
        lab = GiftiLabel(key=key)
        lab.label = name
        table.labels.append(lab)
    out = []
    for h, hemi in enumerate(("L", "R")):
        path = folder / f"hemi-{hemi}_space-{SURFACE}_dseg.label.gii"
        save(GiftiImage(labeltable=table, darrays=[GiftiDataArray(labels[h * N_HEMI:(h + 1) * N_HEMI],
                                                                  intent="NIFTI_INTENT_LABEL",
                                                                  datatype="NIFTI_TYPE_INT32")]), path)
        out.append(path)
    (folder / f"space-{SURFACE}_dseg.tsv").write_text(
        "index\tname\n" + "".join(f"{i + 1}\t{n}\n" for i, n in enumerate(names)))
    return out[0], out[1]


def _write_tsv(path: Path, cols: dict[str, np.ndarray]) -> None:
    names = list(cols)
    rows = ["\t".join(names)]
    for i in range(len(cols[names[0]])):
        rows.append("\t".join("n/a" if not np.isfinite(cols[c][i]) else f"{cols[c][i]:.6g}" for c in names))
    path.write_text("\n".join(rows) + "\n")


def write_bids_example(root: str | Path, n_subjects: int = 3, n_train_stimuli: int = 3, n_repeats: int = 2,
                       trs_per_stimulus: int = 200, n_layers: int = 4, n_features: int = 16,
                       vertices_per_region: int = 12, drift: float = 1.5, spatial_share: float = 0.5,
                       task: str = "movie",
                       space: str = "MNI152NLin2009cAsym", seed: int = 0, train_repeats: int = 1,
                       n_test_stimuli: int = 1, high_motion: int = 0, spike: float = 8.0,
                       surface_noise: float = 0.1) -> BidsExample:
    """Write the example study under ``root`` (which must not exist or be empty) and return
    what was written with the planted truth. ``drift``: the confound drift's loading, in
    units of each voxel's BOLD standard deviation (0 plants none); ``spatial_share``: how
    much of a voxel's response its region's voxels share (:class:`brain.synthetic.SyntheticConfig`);
    ``train_repeats``: runs showing the first training stimulus (1: every training stimulus
    once; the study is then the same as without it); ``n_test_stimuli``: test stimuli of
    ``trs_per_stimulus`` TRs each (1: ``clip_test``, the study as without it; more:
    ``clip_test1``, ``clip_test2``, ..., consecutive pieces of the synthetic test segment);
    ``high_motion``: high-motion volumes planted per run with an artefact of ``spike`` BOLD
    standard deviations (0: none; the study is then the same as without them); ``space``: a
    volume space's name, or ``fsaverage5`` for surface runs (the module docstring), whose
    unplanted vertices carry white noise of sd ``surface_noise``."""
    import nibabel as nib

    root = Path(root)
    surface = space == SURFACE
    if space.startswith("fs") and not surface:
        raise ValueError(f"space {space!r}: the example writes volumes or fsaverage5 surfaces only")
    if isinstance(train_repeats, bool) or not isinstance(train_repeats, int) or train_repeats < 1:
        raise ValueError(f"train_repeats must be a whole number >= 1, got {train_repeats!r}")
    if isinstance(n_test_stimuli, bool) or not isinstance(n_test_stimuli, int) or n_test_stimuli < 1:
        raise ValueError(f"n_test_stimuli must be a whole number >= 1, got {n_test_stimuli!r}")
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; give a new directory for the example study")
    cfg = SyntheticConfig(n_subjects=n_subjects, n_runs=n_train_stimuli, trs_per_run=trs_per_stimulus,
                          n_test_trs=trs_per_stimulus * n_test_stimuli, n_repeats=n_repeats, n_layers=n_layers,
                          n_features=n_features, vertices_per_region=vertices_per_region,
                          spatial_share=spatial_share)
    truth = make_synthetic(cfg, seed=seed)
    rng = np.random.default_rng([seed, 7])
    repeat_rng = np.random.default_rng([seed, 8])  # the extra presentations' noise: the rest as without them
    motion_rng = np.random.default_rng([seed, 9])  # the high-motion volumes: the rest as without them
    planted: dict[str, dict[str, list[int]]] = {}
    n_vox, n_t, tr = truth.bold_train.shape[2], trs_per_stimulus, cfg.tr
    mask = np.zeros(_grid(n_vox), bool)
    mask.flat[:n_vox] = True
    affine = _affine()
    train = [f"clip{i + 1:02d}" for i in range(n_train_stimuli)]
    tests = ["clip_test"] if n_test_stimuli == 1 else [f"clip_test{j + 1}" for j in range(n_test_stimuli)]
    deriv = root / "derivatives" / "fmriprep"
    for where, extra in ((root, {}), (deriv, {"DatasetType": "derivative",
                                              "GeneratedBy": [{"Name": "fMRIPrep", "Version": "synthetic"}]})):
        where.mkdir(parents=True, exist_ok=True)
        (where / "dataset_description.json").write_text(json.dumps(
            {"Name": "callosum synthetic study", "BIDSVersion": "1.8.0", **extra}, indent=1))
    run_stimuli = {}
    constant = None
    if surface:  # 64 unplanted vertices per hemisphere held at 0, the same in every run
        pick = np.random.default_rng([seed, 9])
        free = [np.setdiff1d(np.arange(h * N_HEMI, (h + 1) * N_HEMI), truth.vertices) for h in range(2)]
        constant = np.sort(np.concatenate([pick.choice(f, N_CONSTANT, replace=False) for f in free]))
        surface_rng = np.random.default_rng([seed, 10])
    for s in range(n_subjects):
        sub = f"{s + 1:02d}"
        segments = [(name, truth.bold_train[s, i * n_t:(i + 1) * n_t]) for i, name in enumerate(train)]
        segments += [(train[0], np.sqrt(truth.ev) * truth.signal_train[s, :n_t]
                      + np.sqrt(1 - truth.ev) * ar1_noise(repeat_rng, (n_t, n_vox), cfg.noise_phi))
                     for _ in range(train_repeats - 1)]
        segments += [(name, truth.bold_test[s, k, j * n_t:(j + 1) * n_t]) for k in range(n_repeats)
                     for j, name in enumerate(tests)]
        order = rng.permutation(len(segments))
        run_stimuli[sub] = [segments[i][0] for i in order]
        raw_func, der_func = root / f"sub-{sub}" / "func", deriv / f"sub-{sub}" / "func"
        raw_func.mkdir(parents=True)
        der_func.mkdir(parents=True)
        if not surface:
            nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine),
                     der_func / f"sub-{sub}_task-{task}_space-{space}_desc-brain_mask.nii.gz")
        for run, i in enumerate(order, start=1):
            stim, y = segments[i]
            stem = f"sub-{sub}_task-{task}_run-{run}"
            d = _drift(rng, n_t)
            if surface:  # the planted vertices in a whole fsaverage5 surface of small noise
                full = surface_noise * surface_rng.standard_normal((n_t, 2 * N_HEMI))
                full[:, truth.vertices] = y
                y = full
            sd = y.std(axis=0)
            bold = BASELINE + y + drift * sd * d[:, None]
            spikes = _high_motion_volumes(motion_rng, n_t, high_motion)
            bold[spikes] += spike * sd * motion_rng.standard_normal((spikes.size, bold.shape[1]))
            (raw_func / f"{stem}_events.tsv").write_text(
                f"onset\tduration\ttrial_type\tstim_file\n0\t{n_t * tr:g}\tmovie\tstimuli/{stim}.mp4\n")
            (raw_func / f"{stem}_bold.json").write_text(json.dumps({"RepetitionTime": tr, "TaskName": task}))
            if surface:
                bold[:, constant] = 0.0
                bold_name = f"{stem}_hemi-L_space-{space}_bold.func.gii"
                for h, hemi in enumerate(("L", "R")):
                    _write_gifti(der_func / f"{stem}_hemi-{hemi}_space-{space}_bold.func.gii",
                                 bold[:, h * N_HEMI:(h + 1) * N_HEMI], tr)
                    (der_func / f"{stem}_hemi-{hemi}_space-{space}_bold.json").write_text(
                        json.dumps({"RepetitionTime": tr, "TaskName": task}))
            else:
                bold_name = f"{stem}_space-{space}_desc-preproc_bold.nii.gz"
                img = nib.Nifti1Image(_volume(bold, mask), affine)
                img.header.set_xyzt_units("mm", "sec")
                img.header["pixdim"][4] = tr
                nib.save(img, der_func / bold_name)
                (der_func / f"{stem}_space-{space}_desc-preproc_bold.json").write_text(
                    json.dumps({"RepetitionTime": tr, "TaskName": task, "SkullStripped": False}))
            cols = _confounds(rng, d, bold, tr, motion_rng)
            cols["framewise_displacement"][spikes] = HIGH_MOTION_FD
            cols["std_dvars"][spikes] = HIGH_MOTION_DVARS
            if high_motion:
                planted.setdefault(sub, {})[bold_name] = spikes.tolist()
            _write_tsv(der_func / f"{stem}_desc-confounds_timeseries.tsv", cols)
            (der_func / f"{stem}_desc-confounds_timeseries.json").write_text("{}")
    features = {}
    for sp in cfg.spaces:
        out = root / "features" / sp
        out.mkdir(parents=True)
        for i, name in enumerate(train):
            np.savez(out / f"{name}.npz", **{f"layer_{k:02d}": x[i * n_t:(i + 1) * n_t]
                                             for k, x in enumerate(truth.features_train[sp])})
        for j, name in enumerate(tests):
            np.savez(out / f"{name}.npz", **{f"layer_{k:02d}": x[j * n_t:(j + 1) * n_t]
                                             for k, x in enumerate(truth.features_test[sp])})
        features[sp] = out
    (root / "atlas").mkdir()
    if surface:
        atlas = _write_label_pair(root / "atlas", truth.vertices, truth.region, truth.region_names)
    else:
        atlas = root / "atlas" / "regions_dseg.nii.gz"
        labels = np.zeros(mask.shape, np.int16)
        labels[mask] = truth.region + 1  # BIDS dseg: 0 is the background
        nib.save(nib.Nifti1Image(labels, affine), atlas)
        (root / "atlas" / "regions_dseg.tsv").write_text(
            "index\tname\n" + "".join(f"{i + 1}\t{n}\n" for i, n in enumerate(truth.region_names)))
    return BidsExample(root, deriv, task, space, features, atlas, truth.region_names, tests[0], truth, run_stimuli,
                       tuple(tests), planted, constant)


def labels_setting(ex: BidsExample) -> str:
    """The example's region labels as a ``task.bids.labels`` value (a [left, right] list on a surface)."""
    return f"[{ex.atlas[0]},{ex.atlas[1]}]" if isinstance(ex.atlas, tuple) else str(ex.atlas)


def command(ex: BidsExample, confounds: bool = True) -> str:
    """The runner command that encodes the example study (paths as written), with
    ``task.cv=by_stimulus`` when a training stimulus is shown in several runs, scrubbing
    (``scrub``, thresholds between the example's own motion and the planted) when it has
    high-motion volumes, and on fsaverage5 ``task.bids.space`` with the label pair as regions
    and as ``task.atlas`` (parcel means: a fit on all 20,484 vertices takes many minutes on a
    CPU)."""
    feats = ",".join(f"{k}:{v}" for k, v in ex.features.items())
    conf = " task.bids.confounds=[motion] 'task.bids.confound_options={motion:basic}'" if confounds else ""
    if confounds and ex.high_motion:  # scrub the planted high-motion volumes
        conf = (" task.bids.confounds=[motion,scrub] 'task.bids.confound_options={motion:basic,"
                f"fd_threshold:{HIGH_MOTION_FD / 2:g},std_dvars_threshold:{HIGH_MOTION_DVARS / 2:g}}}'")
    first = next(iter(ex.run_stimuli.values()))
    tests = ex.test_stimuli or (ex.test_stimulus,)
    repeated = any(first.count(s) > 1 for s in set(first) if s not in tests)
    return (f"python -m experiments.run task=encoding task.data=bids task.bids.root={ex.root} "
            f"task.bids.task={ex.task} 'task.bids.features={{{feats}}}' task.bids.test_stimuli=[{','.join(tests)}]"
            f"{conf}" + (f" task.bids.space={ex.space} 'task.bids.labels={labels_setting(ex)}' "
                         f"'task.atlas={labels_setting(ex)}'" if ex.space == SURFACE else f" task.bids.labels={ex.atlas}")
            + (" task.cv=by_stimulus" if repeated else ""))


def main(argv: list[str] | None = None) -> None:
    """``python -m brain.bids_example DIR [--subjects N] [--seed S] [--train-repeats K]
    [--train-stimuli N] [--test-stimuli M] [--high-motion V] [--space fsaverage5]``: write the
    example study into DIR (with ``--train-repeats K``, the first training clip in K runs;
    ``--test-stimuli M``, M test clips; ``--high-motion V``, V high-motion volumes per run;
    ``--space fsaverage5``, surface runs) and print the command that encodes it (scrubbing
    the high-motion volumes)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m brain.bids_example", description=main.__doc__)
    p.add_argument("root", help="a new (or empty) directory for the study")
    p.add_argument("--subjects", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-repeats", type=int, default=1, help="runs showing the first training clip (default 1)")
    p.add_argument("--train-stimuli", type=int, default=3, help="training clips (default 3)")
    p.add_argument("--test-stimuli", type=int, default=1, help="test clips (default 1: clip_test)")
    p.add_argument("--high-motion", type=int, default=0,
                   help="high-motion volumes planted per run, with a BOLD artefact (default 0); the command scrubs them")
    p.add_argument("--space", default="MNI152NLin2009cAsym", choices=("MNI152NLin2009cAsym", SURFACE),
                   help="volume runs (default) or fsaverage5 GIfTI pairs")
    args = p.parse_args(argv)
    ex = write_bids_example(args.root, n_subjects=args.subjects, seed=args.seed, train_repeats=args.train_repeats,
                            n_train_stimuli=args.train_stimuli, n_test_stimuli=args.test_stimuli,
                            high_motion=args.high_motion, space=args.space)
    n = sum(len(v) for v in ex.run_stimuli.values())
    print(f"wrote {n} runs of {len(ex.run_stimuli)} subjects to {ex.root}; encode them with:\n{command(ex)}")


if __name__ == "__main__":
    main()
