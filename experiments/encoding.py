"""Task ``encoding``: voxel-wise encoding of every layer of every feature space, with noise
ceilings, permutation statistics, layer/region analyses and a brain-alignment report.

Runs on the embedded synthetic experiment (planted ground truth on fsaverage5).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from brain.banded import BandedRidgeEncoder
from brain.encoding import encode_layers, zscore_runs
from brain.scoring import r2_score
from brain.layers import best_layer, region_curves, region_means, variance_partition
from brain.noise_ceiling import cross_subject_ceiling, normalised_alignment, split_half_ceiling
from brain.stats import block_permutation_test, fdr_bh, wilcoxon_across_subjects
from brain.dataset import EncodingData
from brain.loaders import load_experiment, load_features
from brain.synthetic import SyntheticConfig, make_synthetic
from experiments.encoding_report import write_encoding_report

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


def _subject_scores(data: EncodingData, cfg: DictConfig, rng: np.random.Generator,
                    bar: tqdm) -> dict[str, Any]:
    """Per-subject layer scores, p-values and ceilings: per key a list over spaces of arrays
    (n_subjects, n_layers of that space, ...) (spaces may differ in depth); ceiling (n_subjects, n_vox)."""
    t = cfg.task
    encoder = {"delays": list(t.delays), "cv": int(t.cv),
               "alphas": None if t.alphas is None else list(t.alphas)}
    n_sub = data.bold_train.shape[0]
    keys = ("r", "r2", "best_alphas", "pvalues")
    out: dict[str, Any] = {k: [[None] * n_sub for _ in data.spaces] for k in keys}  # [space][subject]
    ceilings = []
    for s in range(n_sub):
        y_train = zscore_runs(data.bold_train[s], data.runs)
        y_test = zscore_runs(data.bold_test[s].mean(axis=0))
        ceilings.append(split_half_ceiling(data.bold_test[s], rng=rng))
        for i, space in enumerate(data.spaces):
            res = encode_layers(data.features_train[space], y_train, data.features_test[space],
                                y_test, runs=data.runs, encoder=encoder,
                                progress=lambda _: bar.update(1))
            p = np.stack([block_permutation_test(y_test, pred, block=int(t.block),
                                                 n_permutations=int(t.n_permutations), rng=rng).pvalue
                          for pred in res.predictions])
            for key, value in zip(keys, (res.r, res.r2, res.best_alphas, p)):
                out[key][i][s] = value
    return {**{k: [np.asarray(per_space) for per_space in v] for k, v in out.items()},
            "ceiling": np.asarray(ceilings)}


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
    best_norm = []
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
        best_norm.append(np.nanmax(norm, axis=1))  # (n_subjects, n_vox): best layer per voxel
        out["spaces"][space] = {
            "layers": layers,
            "best_layer_depth": region_means(depth, data.region, names),
            "layer_curves_r": region_curves(np.nanmean(r, axis=0), data.region, names),
        }
    if len(data.spaces) == 2 and ceiling.shape[0] >= 2:
        a = np.stack([[region_means(b, data.region, names)[n] for n in names] for b in best_norm[0]])
        b = np.stack([[region_means(b, data.region, names)[n] for n in names] for b in best_norm[1]])
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
    """Run the encoding task end to end; write encoding.npz, figures and report.html."""
    data = load_data(cfg)
    rng = np.random.default_rng(int(cfg.seed))
    n_fits = data.bold_train.shape[0] * sum(len(data.features_train[sp]) for sp in data.spaces)
    with tqdm(total=n_fits, desc="encoding fits", unit="layer") as bar:
        res = _subject_scores(data, cfg, rng, bar)
    # Cross-subject ceiling (Oota et al.'s extrapolation; needs >= 3 subjects). Reported beside
    # the split-half ceiling, which normalises: with few subjects the extrapolation runs low.
    res["cross_subject_ceiling"] = (
        cross_subject_ceiling(data.bold_test.mean(axis=1), rng=rng).ceiling
        if data.bold_test.shape[0] >= 3 else None)
    res["variance_partition"] = partition_variance(data, res, cfg) if len(data.spaces) == 2 else None
    with warnings.catch_warnings():  # all-NaN voxels (below the ceiling cut) are meant
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics = summarise(data, res, cfg)
    truth = {k: getattr(data, k) for k in ("true_space", "true_layer") if hasattr(data, k)}
    np.savez_compressed(
        out_dir / "encoding.npz.tmp.npz", **{k: _stack_spaces(res[k]) for k in ("r", "r2", "best_alphas", "pvalues")},
        ceiling=res["ceiling"], n_layers=np.array([len(data.features_train[sp]) for sp in data.spaces]),
        best_layers=np.stack([best_layer(np.nanmean(r, axis=0))[0] for r in res["r"]]),
        vertices=np.array([]) if data.vertices is None else data.vertices, region=data.region,
        region_names=np.array(data.region_names), spaces=np.array(data.spaces), **truth,
    )
    (out_dir / "encoding.npz.tmp.npz").replace(out_dir / "encoding.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        write_encoding_report(data, res, metrics, out_dir)
    log.info("encoding: %d subjects x %d spaces; report in %s", res["ceiling"].shape[0],
             len(data.spaces), out_dir / "report.html")
    return metrics
