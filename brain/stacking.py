"""Stacked encoders (after Lin, Sprague & Singh's stacked regression for fMRI, as the
Algonauts 2025 teams combine layers and models): per voxel, a convex combination of the
per-layer (or per-model) ridge predictions, its weights non-negative and summing to one,
learned on out-of-fold predictions of the training data only.

``out_of_fold_predictions`` refits each layer's :class:`brain.ridge.RidgeEncoder` with a fold
held out (its penalties chosen by its own inner CV on the rest) and predicts that fold, so
no training TR is predicted by a model that saw it; ``simplex_weights`` solves, per voxel,
``min_w |y - sum_k w_k p_k|^2`` subject to ``w >= 0, sum w = 1`` (a small quadratic program,
by accelerated projected gradient on the simplex, all voxels at once); the test prediction
is the same combination of each layer's model refitted on all training TRs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from brain.ridge import RidgeEncoder, cv_folds


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` (n, K) onto the probability simplex
    (Duchi et al. 2008)."""
    v = np.asarray(v, float)
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    k = np.arange(1, v.shape[1] + 1)
    rho = np.count_nonzero(u - css / k > 0, axis=1)
    theta = css[np.arange(v.shape[0]), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)


def simplex_weights(predictions: np.ndarray, Y: np.ndarray, n_iter: int = 3000, tol: float = 1e-10) -> np.ndarray:
    """(n_voxels, K) weights minimising, per voxel, ``|y - sum_k w_k p_k|^2`` over the simplex.

    ``predictions`` (K, n_trs, n_voxels) held-out predictions of K models, ``Y`` (n_trs,
    n_voxels). FISTA with step ``1 / (2 lambda_max(G))`` per voxel (G the K x K Gram matrix of
    the predictions), stopped when no weight moves by more than ``tol``; a voxel whose
    predictions are all zero gets equal weights."""
    P = np.asarray(predictions, float)
    Y = np.asarray(Y, float)
    if P.ndim != 3 or P.shape[1:] != Y.shape:
        raise ValueError(f"predictions must be (K, n_trs, n_voxels) with Y {Y.shape}, got {P.shape}")
    if not (np.isfinite(P).all() and np.isfinite(Y).all()):
        raise ValueError("predictions and Y must be finite")
    K = P.shape[0]
    G = np.einsum("knv,lnv->vkl", P, P)
    b = np.einsum("knv,nv->vk", P, Y)
    lmax = np.linalg.eigvalsh(G)[:, -1]
    step = np.where(lmax > 0, 1.0 / (2.0 * np.maximum(lmax, 1e-300)), 0.0)[:, None]
    w = np.full((G.shape[0], K), 1.0 / K)
    z, t = w.copy(), 1.0
    for _ in range(n_iter):
        grad = 2.0 * (np.einsum("vkl,vl->vk", G, z) - b)
        w_new = project_simplex(z - step * grad)
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        z = w_new + ((t - 1.0) / t_new) * (w_new - w)
        done = np.max(np.abs(w_new - w)) <= tol
        w, t = w_new, t_new
        if done:
            break
    return w


def out_of_fold_predictions(layers: Sequence[np.ndarray], Y: np.ndarray, runs: np.ndarray | None = None,
                            cv: int | None = 5, encoder: dict[str, Any] | None = None,
                            groups: np.ndarray | None = None) -> np.ndarray:
    """(K, n_trs, n_voxels): each layer's prediction of every training TR by a
    :class:`RidgeEncoder` fitted without that TR's fold (leave-one-run-out with ``runs``, else
    ``cv`` contiguous blocks; with ``groups``, folds of whole groups as
    :func:`brain.ridge.cv_folds` makes them). The inner penalty search runs on the remaining
    folds: by run, by contiguous blocks when a single run remains, by group with ``groups``
    (refused when a single group remains: blocks could split its presentations); delays never
    cross a run."""
    Y = np.asarray(Y)
    kw = dict(encoder or {})
    kw.setdefault("cv", cv)
    folds = cv_folds(Y.shape[0], cv, runs, groups)
    runs_ = None if runs is None else np.asarray(runs)
    groups_ = None if groups is None else np.asarray(groups)
    if groups_ is not None:
        for train, test in folds:
            left = np.unique(groups_[train])
            if left.size < 2:
                raise ValueError(f"stacking with folds by group: holding out {np.unique(groups_[test]).tolist()} "
                                 f"leaves {left.tolist()}, one group for the inner CV of the penalties; need >= 3 "
                                 "groups (stimuli)")
    out = np.zeros((len(layers), *Y.shape), np.float32)
    for k, X in enumerate(layers):
        X = np.asarray(X)
        for train, test in folds:
            model = RidgeEncoder(**kw)
            if groups_ is not None:
                inner, inner_groups = None if runs_ is None else runs_[train], groups_[train]
            else:
                inner = None if runs_ is None or np.unique(runs_[train]).size < 2 else runs_[train]
                inner_groups = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # alpha-grid edges, constant voxels
                model.fit(X[train], Y[train], runs=inner, groups=inner_groups)
            out[k, test] = model.predict(X[test], runs=None if runs_ is None else runs_[test])
    return out


class StackedEncoder:
    """Per-voxel convex combination of per-layer ridge encoders (see the module docstring).

    ``fit(layers, Y, runs, groups)``: ``layers`` K arrays (n_trs, n_features_k); learns ``weights_``
    (n_voxels, K) on out-of-fold predictions and refits each layer on all TRs
    (``encoders_``). ``predict(layers, runs)``: the weighted sum of the layers' predictions.
    Keyword arguments go to every :class:`RidgeEncoder` (``delays``, ``alphas``, ``cv``, ...)."""

    def __init__(self, **encoder: Any):
        self.encoder = encoder

    def fit(self, layers: Sequence[np.ndarray], Y: np.ndarray, runs: np.ndarray | None = None,
            groups: np.ndarray | None = None) -> StackedEncoder:
        if not layers:
            raise ValueError("need at least one layer")
        oof = out_of_fold_predictions(layers, Y, runs, self.encoder.get("cv", 5), self.encoder, groups)
        self.weights_ = simplex_weights(oof, np.asarray(Y, float))
        self.encoders_ = []
        for X in layers:
            model = RidgeEncoder(**self.encoder)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit(X, Y, runs=runs, groups=groups)
            self.encoders_.append(model)
        return self

    def predict(self, layers: Sequence[np.ndarray], runs: np.ndarray | None = None) -> np.ndarray:
        if len(layers) != len(self.encoders_):
            raise ValueError(f"fitted on {len(self.encoders_)} layers, got {len(layers)}")
        preds = np.stack([m.predict(X, runs=runs) for m, X in zip(self.encoders_, layers)])
        return combine(self.weights_, preds)


def combine(weights: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(n_trs, n_voxels) = sum_k weights[:, k] * predictions[k]."""
    return np.einsum("vk,knv->nv", np.asarray(weights, float), np.asarray(predictions, float))


def stack_summary(r_stacked: np.ndarray, weights: np.ndarray, r_layers: np.ndarray, cv_layers: np.ndarray,
                  pvalues: np.ndarray, bad: np.ndarray, labels: np.ndarray, names: tuple[str, ...],
                  fdr_alpha: float) -> dict[str, Any]:
    """The stacked encoder beside the best single layer, per region, for one feature space.

    ``r_stacked``, ``pvalues`` (n_subjects, n_vox): the stack's test r and its p-values;
    ``weights`` (n_subjects, K, n_vox); ``r_layers``, ``cv_layers`` (n_subjects, K, n_vox): each
    layer's test r and training CV score (the best single layer of a voxel is the one with the
    best CV score, never the best test r). Means over subjects of the means over each region's
    usable voxels; ``weights`` per region: the mean weight of each layer; ``depth``: the
    weights' mean normalised depth (0 first layer, 1 last); ``significant_voxels``: the
    stack's FDR-significant voxels, mean over subjects."""
    from brain.layers import best_layer
    from brain.stats import fdr_bh

    n_sub, K, n_vox = weights.shape
    best_r = np.full((n_sub, n_vox), np.nan)
    for s in range(n_sub):
        idx, _ = best_layer(cv_layers[s], ~bad[s])
        best_r[s] = np.where(idx >= 0, r_layers[s][np.maximum(idx, 0), np.arange(n_vox)], np.nan)
    use = ~np.asarray(bad, bool)
    depth = np.einsum("skv,k->sv", weights, np.linspace(0, 1, K) if K > 1 else np.zeros(1))
    sig = np.stack([fdr_bh(np.where(b, np.nan, p), alpha=fdr_alpha).rejected for p, b in zip(pvalues, bad)])

    def mean(x: np.ndarray, where: np.ndarray) -> float | None:
        vals = [np.mean(x[s][where[s]]) for s in range(n_sub) if where[s].any()]
        return float(np.mean(vals)) if vals else None

    per_region = {}
    for j, name in enumerate(names):
        w = use & (np.asarray(labels) == j)[None]
        per_region[name] = {"stacked_r": mean(r_stacked, w), "best_layer_r": mean(best_r, w),
                            "depth": mean(depth, w), "voxels": int(w[0].sum()),
                            "weights": [mean(weights[:, k], w) for k in range(K)]}
    return {"mean_r": mean(r_stacked, use), "best_layer_mean_r": mean(best_r, use),
            "significant_voxels": float(sig.sum(axis=1).mean()), "per_region": per_region,
            "rule": "per voxel, non-negative weights summing to 1 over the layers' ridge predictions, learned on "
                    "out-of-fold predictions of the training data (brain.stacking); best single layer by training CV"}
