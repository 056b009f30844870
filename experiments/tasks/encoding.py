"""Task ``encoding``: voxel-wise encoding of every layer of every feature space, with noise
ceilings, permutation statistics, layer/region analyses and a brain-alignment report.

This module loads and cleans the data and computes the per-voxel scores (resumable, in voxel
chunks); :mod:`experiments.tasks.encoding_summary` turns them into statistics and metrics.

Runs on the embedded synthetic experiment (planted ground truth on fsaverage5).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from brain.bootstrap import bootstrap_alignment, ceiling_resampler
from brain.comparison import best_instruction_map
from brain.dataset import EncodingData
from brain.delays import check_delays, delays_from_seconds, run_segments
from brain.encoding import encode_layers
from brain.layers import best_layer_significant
from brain.loaders import existing_file, load_experiment, load_features
from brain.noise_ceiling import split_half_reliability
from brain.partition import partition_variance
from brain.prepare import Cleaning, SubjectData, common_test_mask
from brain.ridge import cv_folds, fold_groups
from brain.scoring import pearson_r
from brain.selection import (
    CeilingChoice,
    available_ceilings,
    choose_ceiling,
    choose_selection,
    keep_voxels,
    training_isc,
)
from brain.stacking import combine, out_of_fold_predictions, simplex_weights
from brain.stats import block_permutation_test, phase_randomisation_test
from brain.synthetic import SyntheticConfig, make_synthetic
from experiments.report.encoding import write_encoding_report
from experiments.settings import BY_STIMULUS, EncodingTask, RunSettings
from experiments.store import ResumableStore
from experiments.tasks.encoding_summary import summarise
from experiments.validate import differences

log = logging.getLogger("callosum")


def load_data(cfg: RunSettings) -> EncodingData:
    """The experiment's data (:func:`load_units`), as parcel means when ``task.atlas`` is given."""
    data = load_units(cfg)
    atlas = cfg.task.atlas
    if atlas is None:
        return data
    from brain.parcels import parcellate, read_atlas, synthetic_atlas

    if atlas == "synthetic":
        if cfg.task.data != "synthetic":
            raise ValueError("task.atlas=synthetic is the synthetic default's atlas; give a label image for "
                             f"task.data={cfg.task.data}")
        return parcellate(data, synthetic_atlas(data))
    paths = [str(a) for a in atlas] if isinstance(atlas, (list, tuple)) else str(atlas)
    try:
        parcels = read_atlas(paths, data.bold_train.shape[2], mask=data.mask, vertices=data.vertices,
                             table=cfg.task.atlas_labels)
    except (OSError, ValueError) as e:
        raise type(e)(f"task.atlas: {e}") from None
    return parcellate(data, parcels)


def load_units(cfg: RunSettings) -> EncodingData:
    """The experiment's data: the embedded synthetic default, the user's files or a BIDS study."""
    t = cfg.task  # task.data is synthetic, files or bids (the schema checked it)
    if t.data == "files":
        return load_experiment(**dataclasses.asdict(t.files))
    if t.data == "bids":
        from brain.bids import load_bids

        return load_bids(t.bids.spec(), progress=True, by_stimulus=t.cv == BY_STIMULUS, n_folds=t.cv_folds)
    sizes = dataclasses.asdict(t.synthetic)
    sizes["instructions"] = synthetic_instructions(sizes["instructions"])
    real = t.stimulus_features
    if real.file and sizes["instructions"]:
        raise ValueError("task.synthetic.instructions and task.stimulus_features.file exclude each other")
    if not real.file:
        return make_synthetic(SyntheticConfig(**sizes), seed=cfg.seed)
    # Planted responses driven by a model's real features of a stimulus (task=features output).
    layers = list(load_features(real.file, group=real.group).values())
    n_rows, n_test = layers[0].shape[0], int(sizes["n_test_trs"])
    per_run = (n_rows - n_test) // int(sizes["n_runs"])
    if per_run < 20:
        raise ValueError(f"{real.file}: {n_rows} TRs of features are too few for {sizes['n_runs']} training "
                         f"runs of >= 20 TRs plus {n_test} test TRs (lower task.synthetic.n_test_trs or n_runs)")
    sizes["trs_per_run"] = per_run
    n_all = per_run * int(sizes["n_runs"]) + n_test
    return make_synthetic(SyntheticConfig(**sizes), seed=cfg.seed,
                          features={real.space: [x[:n_all] for x in layers]})


def synthetic_instructions(value: Any) -> tuple[str, ...]:
    """``task.synthetic.instructions`` as names: null -> none (the video/audio default), N ->
    instr1..instrN, a list -> its names."""
    if value is None:
        return ()
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
        raise ValueError(f"task.synthetic.instructions must be null, a number or a list of names, got {value!r}")
    names = tuple(f"instr{k + 1}" for k in range(value)) if isinstance(value, int) else tuple(str(v) for v in value)
    if len(names) < 2:
        raise ValueError(f"task.synthetic.instructions: need at least 2 instructions, got {value!r}")
    return names


def instruction_pair(cfg: RunSettings, data: EncodingData) -> tuple[int, int] | None:
    """Space indices of the two instructions of the variance partition (``task.instructions.pair``,
    default the first two), or None when the run has fewer than two instructions."""
    if len(data.instructions) < 2:
        return None
    pair = cfg.task.instructions.pair
    names = list(data.instructions[:2]) if pair is None else [str(p) for p in pair]
    if len(names) != 2 or names[0] == names[1] or any(n not in data.instructions for n in names):
        raise ValueError(f"task.instructions.pair must name two different instructions of {list(data.instructions)}, "
                         f"got {pair!r}")
    return data.spaces.index(names[0]), data.spaces.index(names[1])


SCORE_KEYS = ("r", "r2", "best_alphas", "pvalues", "cv_score")
SPLIT_KEYS = ("reliability", "pvalue", "ceiling")  # a subject's split-half unit
UNIT_SALT_CEILING = 10_000  # rng stream of a subject's split-half ceiling (spaces use their index)


def voxel_range(n_voxels: int, chunk: int, chunks: int) -> tuple[int, int]:
    """[start, stop) of voxel chunk ``chunk`` of ``chunks`` (as ``np.array_split``)."""
    if chunks < 1 or not 0 <= chunk < chunks:
        raise ValueError(f"task.chunk must be in 0 .. task.chunks - 1 = {chunks - 1}, got {chunk}")
    if chunks > n_voxels:
        raise ValueError(f"task.chunks={chunks} is more than the {n_voxels} voxels")
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_voxels), chunks)])
    return int(bounds[chunk]), int(bounds[chunk + 1])


def unit_settings(cfg: RunSettings) -> dict[str, Any]:
    """What determines the voxel-wise scores (all but the chunking and the run machinery)."""
    task = dataclasses.asdict(cfg.task)
    for key in ("chunks", "chunk", "merge"):
        task.pop(key, None)
    return {"task": task, "seed": cfg.seed}


def resolve_delays(t: EncodingTask, tr: float) -> list[int]:
    """FIR delays in TRs: ``task.delays`` (TRs) when given, else ``task.delays_s`` (s) rounded
    to whole TRs at ``tr`` and made contiguous (:func:`brain.delays.delays_from_seconds`)."""
    if t.delays is not None:
        return [int(d) for d in check_delays(list(t.delays))]
    if t.delays_s is None:
        raise ValueError("give FIR delays: task.delays_s (seconds) or task.delays (TRs)")
    return [int(d) for d in delays_from_seconds(list(t.delays_s), tr)]


def encoder_settings(t: EncodingTask, tr: float) -> dict[str, Any]:
    """Keyword arguments of the ridge encoders (``brain.ridge.RidgeEncoder``, banded too) at TR
    ``tr`` (s): the FIR delays of :func:`resolve_delays` and the penalty search (``task.cv``;
    ``by_stimulus``: ``cv=task.cv_folds``, None for one fold per stimulus of :func:`cv_groups`,
    K for the stimuli dealt to K folds)."""
    return {"delays": resolve_delays(t, tr), "cv": t.cv_folds if t.cv == BY_STIMULUS else t.cv, "score_cv": t.score_cv,
            "alphas": None if t.alphas is None else list(t.alphas)}


def cv_groups(t: EncodingTask, prep: SubjectData) -> np.ndarray | None:
    """The stimulus of every kept training TR (``prep.stimuli``) with ``task.cv=by_stimulus``:
    the CV folds hold out whole stimuli; else None (folds by run or block). Data without
    stimuli are refused by :func:`check_settings`, before any fit."""
    return prep.stimuli if t.cv == BY_STIMULUS else None


def subject_data(data: EncodingData, cfg: RunSettings, voxels: tuple[int, int] | None = None) -> SubjectData:
    """Each subject's cleaned data (``task.clean``, confounds from their files) for ``voxels``."""
    c = cfg.task.clean
    files = c.confounds
    load = None if files is None else (lambda s: np.load(existing_file(files[s])))
    return SubjectData(data, Cleaning(c.detrend, c.high_pass, c.standardize, tuple(c.trim)), voxels, load)


def _null_pvalues(t: EncodingTask, y_test: np.ndarray, predictions: np.ndarray, rng: np.random.Generator,
                  segments: np.ndarray | None = None) -> np.ndarray:
    """(n_layers, n_vox) one-sided p-values of each layer's test r (``task.r_null``); the
    phase null randomises each test stimulus of ``segments`` (the scored TRs' labels) on its
    own; the paper's block null shuffles blocks over all test TRs, as the paper does."""
    if t.r_null == "block":
        return np.stack([block_permutation_test(y_test, p, block=t.block, n_permutations=t.n_permutations,
                                                rng=rng).pvalue for p in predictions])
    return np.stack([phase_randomisation_test(y_test, p, t.n_permutations, rng, segments=segments).pvalue
                     for p in predictions])


def _subject_scores(data: EncodingData, cfg: RunSettings, store: ResumableStore, voxels: tuple[int, int],
                    bar: tqdm) -> dict[str, Any]:
    """Per-subject layer scores, training CV scores, p-values and split-half ceilings of the
    voxels ``voxels`` = [start, stop): per key a list over spaces of arrays (n_subjects,
    n_layers of that space, n_vox) (spaces may differ in depth); ``split_half``: {reliability,
    pvalue, ceiling} each (n_subjects, n_vox) (NaN with a single test presentation).

    Every (subject, space) unit draws its permutations from its own generator seeded by
    (seed, subject, space), and every voxel's numbers depend on that voxel only, so a run
    split into voxel chunks, or resumed, gives the same numbers as one uninterrupted run."""
    t, seed = cfg.task, cfg.seed
    prep = subject_data(data, cfg, voxels)
    encoder = encoder_settings(t, float(data.tr))
    groups = cv_groups(t, prep)
    n_sub, n_vox = data.bold_train.shape[0], voxels[1] - voxels[0]
    out: dict[str, Any] = {k: [[None] * n_sub for _ in data.spaces] for k in SCORE_KEYS}  # [space][subject]
    out_stacked: dict[str, Any] = {k: [[None] * n_sub for _ in data.spaces] for k in STACKED_KEYS}
    split = {k: [] for k in SPLIT_KEYS}
    preds: list[list[Any]] = [[None] * n_sub for _ in data.spaces]
    for s in range(n_sub):
        unit = store.get(f"s{s:02d}_ceiling")
        if unit is None:
            unit = {k: np.full(n_vox, np.nan) for k in SPLIT_KEYS}
            if data.n_repeats >= 2:
                rng = np.random.default_rng([seed, s, UNIT_SALT_CEILING])
                rel = split_half_reliability(prep.test_repeats(s), rng=rng, n_permutations=t.n_permutations,
                                             segments=prep.scored_test_runs)
                unit = {k: getattr(rel, k) for k in SPLIT_KEYS}
            store.put(f"s{s:02d}_ceiling", **unit)
        for k in SPLIT_KEYS:
            split[k].append(unit[k])
        prepared = None
        for i, space in enumerate(data.spaces):
            bar.set_postfix_str(f"subject {s}, {'instruction' if space in data.instructions else 'space'} {space}")
            name = f"s{s:02d}_space{i:02d}"
            unit, res = store.get(name), None
            if unit is None:
                prepared = prepared or prep(s)
                y_train, y_test, x_train, x_test, runs = prepared
                res = encode_layers(x_train[space], y_train, x_test[space], y_test, runs=runs, encoder=encoder,
                                    progress=lambda _: bar.update(1), groups=groups, test_runs=prep.test_runs,
                                    sample_mask=prep.train_mask(s), test_mask=prep.test_mask)
                p = _null_pvalues(t, y_test, res.predictions, np.random.default_rng([seed, s, i]),
                                  prep.scored_test_runs)
                unit = dict(zip(SCORE_KEYS, (res.r, res.r2, res.best_alphas, p, res.cv_scores)))
                best = np.argmax(np.nan_to_num(np.asarray(res.cv_scores), nan=-np.inf), axis=0)  # CV-best layer
                unit["pred_best"] = np.take_along_axis(res.predictions, best[None, None], axis=0)[0].astype(np.float32)
                store.put(name, **unit)
            else:
                bar.update(len(data.features_train[space]))
            for key in SCORE_KEYS:
                out[key][i][s] = unit[key]
            preds[i][s] = unit.get("pred_best")  # the bootstrap's input; absent in units of older runs
            if t.stacked:
                stacked = store.get(f"{name}_stacked")
                if stacked is None:
                    prepared = prepared or prep(s)
                    stacked = _stacked_unit(prepared, space, encoder, t, np.random.default_rng([seed, s, i, 3]),
                                            None if res is None else res.predictions, groups, prep.test_runs,
                                            prep.scored_test_runs)
                    store.put(f"{name}_stacked", **stacked)
                bar.update(len(data.features_train[space]))
                for key in STACKED_KEYS:
                    out_stacked[key][i][s] = stacked[key]
    res = {**{k: [np.asarray(per_space) for per_space in v] for k, v in out.items()},
           "split_half": {k: np.asarray(v) for k, v in split.items()}}
    if all(p is not None for per_space in preds for p in per_space):
        res["pred_best"] = [np.stack(per_space) for per_space in preds]  # (n_subjects, n_test, n_vox) per space
    if t.stacked:
        res["stacked"] = {k: [np.asarray(per_space) for per_space in v] for k, v in out_stacked.items()}
    return res


STACKED_KEYS = ("r", "weights", "pvalues")


def _stacked_unit(prepared: tuple, space: str, encoder: dict[str, Any], t: EncodingTask,
                  rng: np.random.Generator, preds: np.ndarray | None, groups: np.ndarray | None = None,
                  test_runs: np.ndarray | None = None, scored_runs: np.ndarray | None = None
                  ) -> dict[str, np.ndarray]:
    """One subject and space's stacked encoder: weights learned on out-of-fold predictions of
    the training data (folds of whole stimuli with ``groups``), applied to the layers' test
    predictions (``preds``, (K, n_test, n_vox), of the fits on all training TRs; refitted when
    not given, their delays restarting at every test segment of ``test_runs``); its test r and
    p-values (each scored test stimulus of ``scored_runs`` phase-randomised on its own)."""
    y_train, y_test, x_train, x_test, runs = prepared
    oof = out_of_fold_predictions(x_train[space], y_train, runs, encoder["cv"], encoder, groups)
    weights = simplex_weights(oof, y_train)
    if preds is None:
        preds = encode_layers(x_train[space], y_train, x_test[space], y_test, runs=runs, encoder=encoder,
                              groups=groups, test_runs=test_runs).predictions
    stacked = combine(weights, preds)
    p = _null_pvalues(t, y_test, stacked[None], rng, scored_runs)[0]
    return {"r": np.asarray(pearson_r(y_test, stacked)), "weights": weights.T, "pvalues": p}


def find_chunks(root: Path) -> list[Path]:
    """Run directories of voxel-chunk jobs under ``root`` (itself, or its subdirectories, e.g.
    the numbered jobs of a Hydra multirun)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"task.merge: {root} is not a directory")
    found = sorted({p.parent for p in root.glob("**/chunk.json")})
    if not found:
        raise FileNotFoundError(f"task.merge: no chunk runs (chunk.json) under {root}; run "
                                f"task.chunks=N task.chunk=0..N-1 (e.g. with -m) first")
    return found


def merge_chunks(root: Path, cfg: RunSettings, n_voxels: int) -> dict[str, Any]:
    """Concatenate the voxel chunks under ``root`` into one result; they must all be finished,
    come from this config, and cover every voxel exactly once. The best layers' test
    predictions (for the block bootstrap) and the stacked encoders' scores and weights
    (``task.stacked``) are merged as the voxel-wise scores are."""
    settings = json.loads(json.dumps(unit_settings(cfg)))
    chunks = {}
    for d in find_chunks(root):
        meta = json.loads((d / "chunk.json").read_text())
        diff = differences(meta["settings"], settings)
        if diff:
            raise ValueError(f"task.merge: {d} was run with other settings than this config ("
                             + "; ".join(diff) + "); all chunks and the merge need the same task and seed")
        if meta["chunk"] in chunks:
            raise ValueError(f"task.merge: chunk {meta['chunk']} found twice: {chunks[meta['chunk']][0]} and {d}")
        chunks[meta["chunk"]] = (d, meta)
    n = {m["chunks"] for _, m in chunks.values()}
    if len(n) != 1:
        raise ValueError(f"task.merge: chunks of different splits ({sorted(n)}) under {root}")
    n_chunks = n.pop()
    missing = sorted(set(range(n_chunks)) - set(chunks))
    if missing:
        raise ValueError(f"task.merge: chunk(s) {missing} of {n_chunks} are missing or unfinished under {root}")
    if chunks[n_chunks - 1][1]["voxels"][1] != n_voxels:
        raise ValueError(f"task.merge: the chunks cover {chunks[n_chunks - 1][1]['voxels'][1]} voxels, "
                         f"the data has {n_voxels}")
    parts = []
    for c in range(n_chunks):
        with np.load(chunks[c][0] / "scores.npz") as f:
            parts.append({k: f[k] for k in f.files})
    n_spaces = int(parts[0]["n_spaces"])
    out: dict[str, Any] = {k: [np.concatenate([p[f"{k}_{i}"] for p in parts], axis=-1) for i in range(n_spaces)]
                           for k in SCORE_KEYS}
    out["split_half"] = {k: np.concatenate([p[f"split_{k}"] for p in parts], axis=-1) for k in SPLIT_KEYS}

    def merged(name: str) -> list[np.ndarray] | None:  # per space, or None when no chunk carries it
        having = [f"{name}_0" in p for p in parts]
        if any(having) and not all(having):
            raise ValueError(f"task.merge: some chunks under {root} carry {name} and others do not (chunks of "
                             "other versions); rerun the chunks")
        return [np.concatenate([p[f"{name}_{i}"] for p in parts], axis=-1) for i in range(n_spaces)] \
            if all(having) else None

    if (pred := merged("pred_best")) is not None:
        out["pred_best"] = pred
    stacked = {k: merged(f"stacked_{k}") for k in STACKED_KEYS}
    if cfg.task.stacked:
        if any(v is None for v in stacked.values()):
            raise ValueError(f"task.merge with task.stacked=true: the chunks under {root} carry no stacked encoders; "
                             "rerun them with task.stacked=true")
        out["stacked"] = stacked
    return out


def _stack_spaces(per_space: list[np.ndarray]) -> np.ndarray:
    """(n_spaces, n_subjects, max layers, ...): spaces with fewer layers are padded with NaN."""
    depth = max(a.shape[1] for a in per_space)
    return np.stack([np.concatenate([a, np.full((a.shape[0], depth - a.shape[1], *a.shape[2:]), np.nan)], axis=1)
                     for a in per_space])


def check_settings(cfg: RunSettings, data: EncodingData) -> tuple[CeilingChoice, dict[str, Any]]:
    """Fail before any fitting on settings the data cannot honour; (ceiling choice, settings)."""
    t = cfg.task
    choice = choose_ceiling(t.ceiling, data.bold_train.shape[0], data.n_repeats)
    selection = choose_selection(t.selection, data.bold_train.shape[0]) if choice.kind != "none" else "none"
    delays = resolve_delays(t, float(data.tr))
    if t.cv == BY_STIMULUS:
        if data.stimuli is None:
            raise ValueError("task.cv=by_stimulus: the data carry no stimulus per training TR (task.data=bids does)")
        n_stimuli = len(np.unique(data.stimuli))
        if t.stacked and n_stimuli < 3:
            raise ValueError(f"task.stacked=true with task.cv=by_stimulus needs >= 3 training stimuli (each fold's "
                             f"inner CV holds out one of the others), got {n_stimuli}")
        prep = subject_data(data, cfg)
        folds = cv_folds(len(prep.stimuli), t.cv_folds, prep.runs, prep.stimuli)  # on the kept (trimmed) TRs
        by_stimulus = {"cv_folds": t.cv_folds, "folds": fold_groups(folds, prep.stimuli)}
    if data.sample_mask_train is not None or data.sample_mask_test is not None:
        if t.stacked:
            raise ValueError("task.stacked=true with censored volumes (task.bids.confounds scrub or non_steady_state) "
                             "is not supported: the stacked encoder's out-of-fold predictions take no sample mask; "
                             "set task.stacked=false or censor nothing")
        n_test_kept = common_test_mask(data, tuple(t.clean.trim))  # refuses too few test TRs kept everywhere
    settings = {"cv": t.cv, "score_cv": t.score_cv, "r_null": t.r_null, "n_permutations": t.n_permutations,
                "delays_trs": delays, "delays_s": [round(d * float(data.tr), 3) for d in delays],
                "delays_from": "task.delays (TRs)" if t.delays is not None else "task.delays_s",
                "tr": float(data.tr), "ceiling_fit": t.ceiling_fit, "selection": selection,
                "min_region_voxels": t.min_region_voxels}
    if t.cv == BY_STIMULUS:
        settings |= by_stimulus  # the folds the fits use: the training stimuli each holds out
    if data.sample_mask_train is not None or data.sample_mask_test is not None:
        settings["censored"] = {
            "train_rows_left_out": [int((~m).sum()) for m in (np.ones_like(data.bold_train[:, :, 0], bool)
                                                              if data.sample_mask_train is None
                                                              else data.sample_mask_train)],
            "test_trs_scored": int(data.bold_test.shape[2] if n_test_kept is None else n_test_kept.sum()),
            "rule": "FIR delays built on whole runs; censored rows left out of the cleaning fits, the ridge fits and "
                    "CV folds; test scores, ceilings, permutations and the block bootstrap on the test TRs kept in "
                    "every repeat of every subject"}
    return choice, settings


def _ceilings(repeats: np.ndarray, cfg: RunSettings, res: dict[str, Any], segments: np.ndarray | None = None
              ) -> dict[str, dict[str, np.ndarray]]:
    """Every ceiling the data allow; ``repeats`` (n_subjects, n_repeats, n_test, n_vox), cleaned;
    ``segments``: the scored test TRs' stimulus labels (None: one test stimulus)."""
    t = cfg.task
    return available_ceilings(res["split_half"], repeats.mean(axis=1), repeats.shape[1], n_bootstraps=t.n_bootstraps,
                              n_permutations=t.n_permutations, extrapolation=t.ceiling_fit,
                              rng=np.random.default_rng([cfg.seed, 20_000]), segments=segments)


def _training_isc(data: EncodingData, cfg: RunSettings) -> dict[str, np.ndarray]:
    """:func:`brain.selection.training_isc` of the cleaned training responses (the data the
    kept voxels are chosen on, independent of the test presentations the ceiling comes from)."""
    prep = subject_data(data, cfg)
    y_train = np.stack([prep.train(s) for s in range(data.bold_train.shape[0])])
    if prep.train_common is not None:  # the training TRs kept in every subject
        y_train = y_train[:, prep.train_common]
    # one phase-randomised series over the training runs (cleaned run by run, alike in variance);
    # per-run surrogates (brain.stats' segments) cost power here: 36 % vs 40 % of voxels at p < 0.05
    # on the synthetic default's 3 runs of 200 TRs, enough to empty the FDR-kept regions of the tiny test run
    return training_isc(y_train, data.bad_voxels, cfg.task.n_permutations, np.random.default_rng([cfg.seed, 20_001]))


MAX_BOOTSTRAP_SUBJECTS = 4  # the block bootstrap's interval is given where subjects are this few


def _bootstrap(data: EncodingData, cfg: RunSettings, res: dict[str, Any], kind: str, reps: np.ndarray,
               test_runs: np.ndarray | None = None) -> dict[str, Any] | None:
    """With <= MAX_BOOTSTRAP_SUBJECTS subjects, per space the block bootstrap of the test TRs
    (:func:`brain.bootstrap.bootstrap_alignment`) of the subject-mean alignment; None where it
    is off (``task.n_block_bootstraps=0``), there are more subjects, or the best layers' test
    predictions are not at hand (units of older runs). ``reps``: the cleaned test
    repeats, (n_subjects, n_repeats, n_test, n_vox); ``test_runs``: their test segments' labels
    (several test stimuli: each draw resamples blocks within each segment), or None."""
    t, n_sub = cfg.task, data.bold_train.shape[0]
    if not t.n_block_bootstraps or n_sub > MAX_BOOTSTRAP_SUBJECTS:
        return None
    if "pred_best" not in res:
        log.warning("no block-bootstrap interval: the best layers' test predictions were not kept (a run resumed "
                    "from an older one)")
        return None
    shortest = reps.shape[2] if test_runs is None else int(np.bincount(run_segments(test_runs, reps.shape[2])).min())
    block = min(t.block or 10, shortest // 2)
    ceiling_of = ceiling_resampler(kind, reps, t.ceiling_fit)
    out = {}
    with _phase(f"block bootstrap of the test TRs ({t.n_block_bootstraps} draws, {block}-TR blocks)"):
        for i, space in enumerate(tqdm(data.spaces, desc="block bootstrap", unit="space", leave=False)):
            out[space] = bootstrap_alignment(
                reps.mean(axis=1), res["pred_best"][i], ceiling_of, res["masks"].keep, data.region, data.region_names,
                block=block, n_bootstraps=t.n_block_bootstraps, rng=np.random.default_rng([cfg.seed, 20_002, i]),
                segments=test_runs,
                min_voxels=t.min_region_voxels, min_ceiling=t.min_ceiling if kind != "none" else 1e-12)
    return out


@contextmanager
def _phase(name: str) -> Iterator[None]:
    """One log line when a phase after the fits starts and one with its seconds when it ends
    (the long ones show their own progress bar too: the cross-subject ceiling, the variance
    partition)."""
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", name, time.perf_counter() - start)


_LOADED: dict[str, EncodingData] = {}  # the last data check() loaded, for its run


def checked_data(cfg: RunSettings) -> EncodingData:
    """:func:`load_data`, kept for the run that the runner's up-front check loaded them for
    (one entry: the data of the same task settings and seed are not read twice)."""
    key = json.dumps([unit_settings(cfg), _file_stamps(dataclasses.asdict(cfg.task))], sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_data(cfg)
    return _LOADED[key]


def _file_stamps(node: Any) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every existing file a setting names: the kept data are reused
    only while the files they were read from are unchanged."""
    if isinstance(node, dict):
        return [x for v in node.values() for x in _file_stamps(v)]
    if isinstance(node, (list, tuple)):
        return [x for v in node for x in _file_stamps(v)]
    if isinstance(node, str) and node and Path(node).expanduser().is_file():
        st = Path(node).expanduser().stat()
        return [(node, st.st_size, st.st_mtime_ns)]
    return []


def check(cfg: RunSettings) -> None:
    """The runner's up-front check of what the schema (``experiments.settings.EncodingTask``)
    cannot see, before the run directory exists: the data load (a user's files: missing,
    corrupt or mismatched ones are named), the ceiling and delays the data allow, the
    instruction pair, and the confound files' rows."""
    data = checked_data(cfg)
    check_settings(cfg, data)
    instruction_pair(cfg, data)
    confounds = cfg.task.clean.confounds
    n_sub, n_train = data.bold_train.shape[:2]
    if confounds is not None:
        if len(confounds) != n_sub:
            raise ValueError(f"task.clean.confounds: one file per subject ({n_sub}), got {len(confounds)}")
        for s, f in enumerate(confounds):
            rows = np.load(existing_file(f), mmap_mode="r").shape[0]
            if rows != n_train:
                raise ValueError(f"task.clean.confounds[{s}] ({f}): {rows} rows, the training BOLD has {n_train} TRs")


def run(cfg: RunSettings, out_dir: Path) -> dict[str, Any]:
    """Run the encoding task end to end; write encoding.npz, figures and report.html.

    ``task.chunks=N task.chunk=i``: only the voxel-wise scores of voxel chunk ``i`` (a job of
    an array; writes scores.npz and chunk.json). ``task.merge=<dir>``: merge the chunk runs
    under ``dir`` and finish as a single run would (the same encoding.npz and metrics)."""
    from experiments.io import write_json, write_npz

    t = cfg.task
    data = checked_data(cfg)
    _LOADED.clear()  # the run holds them now
    choice, settings = check_settings(cfg, data)
    pair = instruction_pair(cfg, data)
    for note in data.notes:
        log.warning("data: %s", note)
    n_vox = data.bold_train.shape[-1]
    chunk, merge = t.chunk, t.merge
    if merge:
        res = merge_chunks(Path(merge), cfg, n_vox)
        log.info("merged %d voxels from the chunk runs under %s", n_vox, merge)
    else:
        voxels = voxel_range(n_vox, chunk, t.chunks) if chunk is not None else (0, n_vox)
        store = ResumableStore(out_dir / "units", {"settings": unit_settings(cfg), "voxels": list(voxels)},
                               cfg.resume, what="encoding run")
        n_fits = data.bold_train.shape[0] * sum(len(data.features_train[sp]) for sp in data.spaces) * (2 if t.stacked else 1)
        with tqdm(total=n_fits, desc="encoding fits", unit="layer") as bar:
            res = _subject_scores(data, cfg, store, voxels, bar)
        if chunk is not None:
            write_npz(out_dir / "scores.npz", n_spaces=len(data.spaces),
                      **{f"split_{k}": a for k, a in res["split_half"].items()},
                      **{f"{k}_{i}": a for k in SCORE_KEYS for i, a in enumerate(res[k])},
                      **{f"pred_best_{i}": a for i, a in enumerate(res.get("pred_best", []))},
                      **{f"stacked_{k}_{i}": a for k, v in res.get("stacked", {}).items() for i, a in enumerate(v)})
            meta = {"chunk": chunk, "chunks": t.chunks, "voxels": list(voxels),
                    "settings": unit_settings(cfg)}
            write_json(out_dir / "chunk.json", meta)  # last: marks the chunk finished
            log.info("chunk %d of %d: voxels %d..%d done", chunk, t.chunks, *voxels)
            return {k: v for k, v in meta.items() if k != "settings"}
    res["settings"] = settings
    with _phase(f"noise ceilings ({n_vox} voxels, {t.n_bootstraps} bootstraps, "
                f"{t.n_permutations} permutations)"):
        prep = subject_data(data, cfg)
        repeats = np.stack([prep.test_repeats(s) for s in range(data.bold_train.shape[0])])  # cleaned once
        res["ceilings"] = _ceilings(repeats, cfg, res, prep.scored_test_runs)
    isc = None
    if settings["selection"] == "training_isc":
        with _phase(f"training-set inter-subject correlation ({n_vox} voxels, {t.n_permutations} permutations)"):
            isc = _training_isc(data, cfg)
    elif choice.kind != "none":
        log.warning("%s: kept voxels are chosen on the %s ceiling that divides (circular: the kept ceilings "
                    "are biased high), as metrics.json's ceiling.rule says",
                    "one subject" if data.bold_train.shape[0] < 2 else "task.selection=ceiling", choice.kind)
    res["masks"] = keep_voxels(choice.kind, res["ceilings"], data.bad_voxels, t.fdr_alpha, t.min_ceiling, isc=isc)
    res["isc"] = isc
    res["bootstrap"] = _bootstrap(data, cfg, res, choice.kind, repeats, prep.scored_test_runs)
    res["variance_partition"] = None
    if len(data.spaces) == 2 or pair is not None:
        with _phase("variance partition of " + ("the two feature spaces" if pair is None else
                                                "instructions " + " and ".join(data.spaces[i] for i in pair))):
            prep = subject_data(data, cfg)
            res["variance_partition"] = partition_variance(
                data, res["cv_score"], res["r2"], prep, encoder_settings(t, float(data.tr)), pair or (0, 1),
                groups=cv_groups(t, prep), test_runs=prep.test_runs)
    res["instruction_map"] = None
    if len(data.instructions) >= 2:  # voxels some instruction's best layer predicts significantly (test r, FDR)
        idx = [data.spaces.index(i) for i in data.instructions]
        keep = res["masks"].keep
        shown = keep & np.any([best_layer_significant(res["pvalues"][i], res["cv_score"][i], keep, t.fdr_alpha)
                               for i in idx], axis=0)
        res["instruction_map"] = best_instruction_map([res["cv_score"][i] for i in idx], shown)
    with warnings.catch_warnings():  # means over regions or layers without a kept voxel are meant to be NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics = summarise(data, res, cfg, choice)
    truth = {k: getattr(data, k) for k in ("true_space", "true_layer") if hasattr(data, k)}
    if res.get("instruction_map") is not None:  # instruction analysis: best instruction per voxel
        truth |= {"instructions": np.array(data.instructions), "best_instruction": res["instruction_map"]}
    write_npz(
        out_dir / "encoding.npz", **{k: _stack_spaces(res[k]) for k in SCORE_KEYS},
        ceiling=res["masks"].ceiling, keep=res["masks"].keep, ceiling_kind=np.array(choice.kind),
        bad_voxels=data.bad_voxels, n_layers=np.array([len(data.features_train[sp]) for sp in data.spaces]),
        **{f"ceiling_{k}": v["ceiling"] for k, v in res["ceilings"].items()},
        vertices=np.array([]) if data.vertices is None else data.vertices, region=data.region,
        region_names=np.array(data.region_names), spaces=np.array(data.spaces), **truth,
        **({"stacked_r": np.stack(res["stacked"]["r"]), "stacked_weights": _stack_spaces(res["stacked"]["weights"])}
           if "stacked" in res else {}),
    )
    with warnings.catch_warnings(), _phase("report and surface maps"):
        warnings.simplefilter("ignore", RuntimeWarning)
        write_encoding_report(data, res, metrics, out_dir)
    log.info("encoding: %d subjects x %d spaces, ceiling %s; report in %s", data.bold_train.shape[0],
             len(data.spaces), choice.kind, out_dir / "report.html")
    return metrics
