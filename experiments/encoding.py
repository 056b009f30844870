"""Task ``encoding``: voxel-wise encoding of every layer of every feature space, with noise
ceilings, permutation statistics, layer/region analyses and a brain-alignment report.

Runs on the embedded synthetic experiment (planted ground truth on fsaverage5).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from brain.banded import BandedRidgeEncoder
from brain.dataset import EncodingData
from brain.encoding import encode_layers, zscore_runs
from brain.layers import best_layer, best_layer_alignment, region_curves, region_means, variance_partition
from brain.loaders import load_experiment, load_features
from brain.noise_ceiling import cross_subject_ceiling, normalised_alignment, split_half_ceiling
from brain.scoring import r2_score
from brain.stats import block_permutation_test, fdr_bh, wilcoxon_across_subjects
from brain.synthetic import SyntheticConfig, make_synthetic
from experiments.encoding_report import write_encoding_report
from experiments.validate import differences

log = logging.getLogger("callosum")
DATA_SOURCES = ("synthetic", "files")


def load_data(cfg: DictConfig) -> EncodingData:
    """The experiment's data: the embedded synthetic default or the user's files."""
    t = cfg.task
    if t.data not in DATA_SOURCES:
        raise ValueError(f"unknown data source {t.data!r}; valid: {', '.join(DATA_SOURCES)}")
    if t.data == "files":
        return load_experiment(**OmegaConf.to_container(t.files, resolve=True))
    sizes = OmegaConf.to_container(t.synthetic, resolve=True)
    real = t.get("stimulus_features") or {}
    if not real.get("file"):
        return make_synthetic(SyntheticConfig(**sizes), seed=int(cfg.seed))
    # Planted responses driven by a model's real features of a stimulus (task=features output).
    layers = list(load_features(real["file"], group=real.get("group")).values())
    n_rows, n_test = layers[0].shape[0], int(sizes["n_test_trs"])
    per_run = (n_rows - n_test) // int(sizes["n_runs"])
    if per_run < 20:
        raise ValueError(f"{real['file']}: {n_rows} TRs of features are too few for {sizes['n_runs']} training "
                         f"runs of >= 20 TRs plus {n_test} test TRs (lower task.synthetic.n_test_trs or n_runs)")
    sizes["trs_per_run"] = per_run
    n_all = per_run * int(sizes["n_runs"]) + n_test
    return make_synthetic(SyntheticConfig(**sizes), seed=int(cfg.seed),
                          features={real.get("space", "audio"): [x[:n_all] for x in layers]})


SCORE_KEYS = ("r", "r2", "best_alphas", "pvalues")
UNIT_SALT_CEILING = 10_000  # rng stream of a subject's split-half ceiling (spaces use their index)


def voxel_range(n_voxels: int, chunk: int, chunks: int) -> tuple[int, int]:
    """[start, stop) of voxel chunk ``chunk`` of ``chunks`` (as ``np.array_split``)."""
    if chunks < 1 or not 0 <= chunk < chunks:
        raise ValueError(f"task.chunk must be in 0 .. task.chunks - 1 = {chunks - 1}, got {chunk}")
    if chunks > n_voxels:
        raise ValueError(f"task.chunks={chunks} is more than the {n_voxels} voxels")
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_voxels), chunks)])
    return int(bounds[chunk]), int(bounds[chunk + 1])


def unit_settings(cfg: DictConfig) -> dict[str, Any]:
    """What determines the voxel-wise scores (all but the chunking and the run machinery)."""
    task = OmegaConf.to_container(cfg.task, resolve=True)
    for key in ("chunks", "chunk", "merge"):
        task.pop(key, None)
    return {"task": task, "seed": int(cfg.seed)}


class UnitStore:
    """Voxel-wise results of one (subject, space) or one subject's ceiling, for one range
    of voxels, each an atomically written ``units/<name>.npz``: a killed run keeps every
    finished unit, and ``resume=true`` (or a merge) reads them back."""

    def __init__(self, out_dir: Path, settings: dict[str, Any], voxels: tuple[int, int], resume: bool):
        from experiments.io import write_json

        self.dir = Path(out_dir) / "units"
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = {"settings": settings, "voxels": list(voxels)}
        path = self.dir / "settings.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if not resume:
                raise FileExistsError(f"{self.dir} holds results: pass resume=true to continue that run")
            diff = differences(saved, json.loads(json.dumps(meta)))
            if diff:
                raise ValueError(f"cannot resume from {self.dir}: settings differ: " + "; ".join(diff))
        else:
            write_json(path, meta)

    def get(self, name: str) -> dict[str, np.ndarray] | None:
        path = self.dir / f"{name}.npz"
        if not path.exists():
            return None
        with np.load(path) as f:
            return {k: f[k] for k in f.files}

    def put(self, name: str, **arrays: np.ndarray) -> None:
        from experiments.io import write_npz

        write_npz(self.dir / f"{name}.npz", **arrays)


def _subject_scores(data: EncodingData, cfg: DictConfig, store: UnitStore, voxels: tuple[int, int],
                    bar: tqdm) -> dict[str, Any]:
    """Per-subject layer scores, p-values and ceilings of the voxels ``voxels`` = [start, stop):
    per key a list over spaces of arrays (n_subjects, n_layers of that space, ...) (spaces may
    differ in depth); ceiling (n_subjects, n_vox).

    Every (subject, space) unit draws its permutations from its own generator seeded by
    (seed, subject, space), and every voxel's numbers depend on that voxel only, so a run
    split into voxel chunks, or resumed, gives the same numbers as one uninterrupted run."""
    t, seed = cfg.task, int(cfg.seed)
    sl = slice(*voxels)
    encoder = {"delays": list(t.delays), "cv": int(t.cv),
               "alphas": None if t.alphas is None else list(t.alphas)}
    n_sub = data.bold_train.shape[0]
    out: dict[str, Any] = {k: [[None] * n_sub for _ in data.spaces] for k in SCORE_KEYS}  # [space][subject]
    ceilings = []
    for s in range(n_sub):
        unit = store.get(f"s{s:02d}_ceiling")
        if unit is None:
            rng = np.random.default_rng([seed, s, UNIT_SALT_CEILING])
            unit = {"ceiling": split_half_ceiling(data.bold_test[s][..., sl], rng=rng)}
            store.put(f"s{s:02d}_ceiling", **unit)
        ceilings.append(unit["ceiling"])
        y_train = y_test = None
        for i, space in enumerate(data.spaces):
            name = f"s{s:02d}_space{i:02d}"
            unit = store.get(name)
            if unit is None:
                if y_train is None:
                    y_train = zscore_runs(data.bold_train[s][:, sl], data.runs)
                    y_test = zscore_runs(data.bold_test[s][..., sl].mean(axis=0))
                res = encode_layers(data.features_train[space], y_train, data.features_test[space],
                                    y_test, runs=data.runs, encoder=encoder,
                                    progress=lambda _: bar.update(1))
                rng = np.random.default_rng([seed, s, i])
                p = np.stack([block_permutation_test(y_test, pred, block=int(t.block),
                                                     n_permutations=int(t.n_permutations), rng=rng).pvalue
                              for pred in res.predictions])
                unit = dict(zip(SCORE_KEYS, (res.r, res.r2, res.best_alphas, p)))
                store.put(name, **unit)
            else:
                bar.update(len(data.features_train[space]))
            for key in SCORE_KEYS:
                out[key][i][s] = unit[key]
    return {**{k: [np.asarray(per_space) for per_space in v] for k, v in out.items()},
            "ceiling": np.asarray(ceilings)}


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


def merge_chunks(root: Path, cfg: DictConfig, n_voxels: int) -> dict[str, Any]:
    """Concatenate the voxel chunks under ``root`` into one result; they must all be finished,
    come from this config, and cover every voxel exactly once."""
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
    out["ceiling"] = np.concatenate([p["ceiling"] for p in parts], axis=-1)
    return out


def _stack_spaces(per_space: list[np.ndarray]) -> np.ndarray:
    """(n_spaces, n_subjects, max layers, ...): spaces with fewer layers are padded with NaN."""
    depth = max(a.shape[1] for a in per_space)
    return np.stack([np.concatenate([a, np.full((a.shape[0], depth - a.shape[1], *a.shape[2:]), np.nan)], axis=1)
                     for a in per_space])


def partition_variance(data: EncodingData, res: dict[str, Any], cfg: DictConfig) -> np.ndarray:
    """Unique and shared test R^2 of two feature spaces, (n_subjects, 3, n_vox): unique to
    the first, unique to the second, shared. Each space enters with its best layer (by
    mean test r for that subject); the joint model is a banded ridge on both."""
    t = cfg.task
    parts = []
    for s in range(data.bold_train.shape[0]):
        best = [int(np.nanargmax(np.nanmean(res["r"][i][s], axis=1))) for i in range(2)]
        train = [data.features_train[sp][k] for sp, k in zip(data.spaces, best)]
        test = [data.features_test[sp][k] for sp, k in zip(data.spaces, best)]
        y_train = zscore_runs(data.bold_train[s], data.runs)
        y_test = zscore_runs(data.bold_test[s].mean(axis=0))
        joint = BandedRidgeEncoder(delays=list(t.delays), cv=int(t.cv),
                                   alphas=None if t.alphas is None else list(t.alphas))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            joint.fit(train, y_train, runs=data.runs)
        r2_joint = np.asarray(r2_score(y_test, joint.predict(test)))
        p = variance_partition(res["r2"][0][s][best[0]], res["r2"][1][s][best[1]], r2_joint)
        parts.append(np.stack([p["unique_a"], p["unique_b"], p["shared"]]))
    return np.stack(parts)


def summarise(data: EncodingData, res: dict[str, Any], cfg: DictConfig) -> dict[str, Any]:
    """metrics.json content: per feature space and layer, mean r, regional normalised
    alignment and significant voxels; best layers and model comparison per region."""
    t, names = cfg.task, data.region_names
    ceiling = res["ceiling"]  # (n_subjects, n_vox)
    out: dict[str, Any] = {"subjects": int(ceiling.shape[0]), "voxels": int(ceiling.shape[1]),
                           "regions": list(names), "spaces": {}}
    for i, space in enumerate(data.spaces):
        r = res["r"][i]  # (n_subjects, n_layers, n_vox)
        norm = normalised_alignment(r, np.broadcast_to(ceiling[:, None, :], r.shape),
                                    min_ceiling=float(t.min_ceiling))
        sig = np.stack([[fdr_bh(p, alpha=float(t.fdr_alpha)).rejected for p in subj]
                        for subj in res["pvalues"][i]])  # (n_subjects, n_layers, n_vox)
        layers = {}
        for k in range(r.shape[1]):
            layers[f"layer_{k:02d}"] = {
                "mean_r": float(np.nanmean(r[:, k])),
                "normalised_alignment": region_means(np.nanmean(norm[:, k], axis=0), data.region, names),
                "significant_voxels": float(sig[:, k].sum(axis=1).mean()),
            }
        idx, depth = best_layer(np.nanmean(r, axis=0))
        out["spaces"][space] = {
            "layers": layers,
            "best_layer_depth": region_means(depth, data.region, names),
            "layer_curves_r": region_curves(np.nanmean(r, axis=0), data.region, names),
        }
    if len(data.spaces) == 2 and ceiling.shape[0] >= 2:
        a, b = (best_layer_alignment(res["r"][i], ceiling, data.region, names, float(t.min_ceiling)) for i in (0, 1))
        w = wilcoxon_across_subjects(a, b)
        out["comparison"] = {
            "spaces": list(data.spaces),
            "per_region": {n: {"mean_difference": float(w.mean_difference[j]), "pvalue": float(w.pvalue[j])}
                           for j, n in enumerate(names)},
        }
    if res.get("variance_partition") is not None:
        vp = np.nanmean(res["variance_partition"], axis=0)  # (3, n_vox)
        a, b = data.spaces
        out["variance_partition"] = {
            key: region_means(vp[j], data.region, names)
            for j, key in enumerate((f"unique_{a}", f"unique_{b}", "shared"))}
    out["noise_ceiling_mean"] = region_means(np.nanmean(ceiling, axis=0), data.region, names)
    if res.get("cross_subject_ceiling") is not None:
        out["cross_subject_ceiling_mean"] = region_means(
            np.nanmean(res["cross_subject_ceiling"], axis=0), data.region, names)
    return out


def run_encoding(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run the encoding task end to end; write encoding.npz, figures and report.html.

    ``task.chunks=N task.chunk=i``: only the voxel-wise scores of voxel chunk ``i`` (a job of
    an array; writes scores.npz and chunk.json). ``task.merge=<dir>``: merge the chunk runs
    under ``dir`` and finish as a single run would (the same encoding.npz and metrics)."""
    from experiments.io import write_json, write_npz

    t = cfg.task
    data = load_data(cfg)
    n_vox = data.bold_train.shape[-1]
    chunk, merge = t.get("chunk"), t.get("merge")
    if chunk is not None and merge:
        raise ValueError("task.chunk and task.merge exclude each other: run the chunks, then merge them")
    if merge:
        res = merge_chunks(Path(merge), cfg, n_vox)
        log.info("merged %d voxels from the chunk runs under %s", n_vox, merge)
    else:
        voxels = voxel_range(n_vox, int(chunk or 0), int(t.get("chunks", 1) or 1)) if chunk is not None else (0, n_vox)
        store = UnitStore(out_dir, unit_settings(cfg), voxels, bool(cfg.get("resume")))
        n_fits = data.bold_train.shape[0] * sum(len(data.features_train[sp]) for sp in data.spaces)
        with tqdm(total=n_fits, desc="encoding fits", unit="layer") as bar:
            res = _subject_scores(data, cfg, store, voxels, bar)
        if chunk is not None:
            write_npz(out_dir / "scores.npz", ceiling=res["ceiling"], n_spaces=len(data.spaces),
                      **{f"{k}_{i}": a for k in SCORE_KEYS for i, a in enumerate(res[k])})
            meta = {"chunk": int(chunk), "chunks": int(t.chunks), "voxels": list(voxels),
                    "settings": unit_settings(cfg)}
            write_json(out_dir / "chunk.json", meta)  # last: marks the chunk finished
            log.info("chunk %d of %d: voxels %d..%d done", int(chunk), int(t.chunks), *voxels)
            return {k: v for k, v in meta.items() if k != "settings"}
    # Cross-subject ceiling (Oota et al.'s extrapolation; needs >= 3 subjects). Reported beside
    # the split-half ceiling, which normalises: with few subjects the extrapolation runs low.
    res["cross_subject_ceiling"] = (
        cross_subject_ceiling(data.bold_test.mean(axis=1), rng=np.random.default_rng([int(cfg.seed), 20_000])).ceiling
        if data.bold_test.shape[0] >= 3 else None)
    res["variance_partition"] = partition_variance(data, res, cfg) if len(data.spaces) == 2 else None
    with warnings.catch_warnings():  # all-NaN voxels (below the ceiling cut) are meant
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics = summarise(data, res, cfg)
    truth = {k: getattr(data, k) for k in ("true_space", "true_layer") if hasattr(data, k)}
    write_npz(
        out_dir / "encoding.npz", **{k: _stack_spaces(res[k]) for k in SCORE_KEYS},
        ceiling=res["ceiling"], n_layers=np.array([len(data.features_train[sp]) for sp in data.spaces]),
        best_layers=np.stack([best_layer(np.nanmean(r, axis=0))[0] for r in res["r"]]),
        vertices=np.array([]) if data.vertices is None else data.vertices, region=data.region,
        region_names=np.array(data.region_names), spaces=np.array(data.spaces), **truth,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        write_encoding_report(data, res, metrics, out_dir)
    log.info("encoding: %d subjects x %d spaces; report in %s", res["ceiling"].shape[0],
             len(data.spaces), out_dir / "report.html")
    return metrics
