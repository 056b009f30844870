"""Banded ridge: one penalty per feature space (band) per voxel, himalaya-style.

Objective, per voxel, for feature spaces ``X_1 .. X_K`` (each standardised and FIR-delayed)::

    min_w ||y - sum_k X_k w_k||^2 + sum_k alpha_k ||w_k||^2

Reparametrisation: write ``alpha_k = alpha * c_k`` with relative penalties ``c`` (geometric
mean 1, so ``alpha`` is the geometric mean of the ``alpha_k``) and substitute
``w_k = u_k / sqrt(c_k)``. Then ``X_k w_k = (X_k / sqrt(c_k)) u_k`` and
``alpha_k ||w_k||^2 = alpha ||u_k||^2``: banded ridge with penalties ``alpha * c`` is plain
ridge with the single penalty ``alpha`` on the bands scaled by ``1 / sqrt(c_k)``
(``= sqrt(alpha / alpha_k)``). So every candidate ``c`` costs one decomposition per CV fold
(``ridge_cv_scores`` reads off the whole alpha grid), each voxel keeps the (c, alpha) pair
with the best CV score, and the refit decomposes once per candidate that some voxel chose.

Candidates ``c`` (see ``band_candidates``): for 2 spaces, ratios ``alpha_2 / alpha_1`` on a
log grid (default 9 values, 1e-3 .. 1e3, including 1); for more spaces, a grid's Cartesian
product is too large, so: ``n_draws`` random band weights ``gamma ~ Dirichlet(1, .., 1)``,
the K corners and the uniform point, each with ``gamma`` clipped below at ``max(gamma) /
1e3`` (so no space is dropped outright) and ``c = 1 / gamma``.

Shapes: ``Xs`` K arrays (n_trs, n_features_k), ``Y`` (n_trs, n_voxels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brain.delays import check_delays, make_delays
from brain.ridge import (
    best_alphas_from_scores,
    check_alphas,
    check_matrix,
    cv_folds,
    precision_scope,
    ridge_cv_scores,
    ridge_weights,
    warn_constant,
    warn_grid_edges,
)
from brain.scoring import pearson_r

MAX_RATIO = 1e3  # default span of penalty ratios between two spaces (both directions)


def _geometric_unit(c: np.ndarray) -> np.ndarray:
    """Rows rescaled to geometric mean 1: (n_candidates, n_spaces)."""
    return c / np.exp(np.log(c).mean(axis=1, keepdims=True))


def band_candidates(
    n_spaces: int,
    ratios: Sequence[float] | np.ndarray | None = None,
    n_draws: int = 20,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Candidate relative penalties ``c`` (n_candidates, n_spaces), each row geometric mean 1.

    ``ratios``: ``None`` (defaults, see the module docstring); 1-D (n_candidates,) values of
    ``alpha_2 / alpha_1`` (two spaces only); or 2-D (n_candidates, n_spaces) relative
    penalties, rescaled per row. One space always gives ``[[1.0]]``.
    """
    if n_spaces == 1:
        return np.ones((1, 1))
    if ratios is None and n_spaces == 2:
        ratios = np.logspace(-3, 3, 9)
    if ratios is None:
        rng = np.random.default_rng() if rng is None else rng
        gamma = np.vstack([rng.dirichlet(np.ones(n_spaces), n_draws), np.eye(n_spaces)])
        gamma = np.maximum(gamma, gamma.max(axis=1, keepdims=True) / MAX_RATIO)
        return _geometric_unit(np.vstack([np.ones(n_spaces), 1.0 / gamma]))
    c = np.asarray(ratios, dtype=np.float64)
    if c.ndim == 1 and n_spaces == 2:
        c = np.column_stack([np.ones_like(c), c])
    if c.ndim != 2 or c.shape[1] != n_spaces or c.shape[0] == 0:
        raise ValueError(
            f"ratios must be 1-D (two spaces) or (n_candidates, {n_spaces}), got {c.shape}"
        )
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"ratios must be finite and > 0, got {c.tolist()}")
    return _geometric_unit(c)


class BandedRidgeEncoder:
    """FIR banded-ridge encoding model: per-voxel, per-space penalties chosen by CV.

    ``fit(Xs, Y, runs)``: z-score each space (training statistics; ``zscore=False`` only
    centres), FIR-delay it (``delays`` in TRs, never crossing runs), concatenate the bands
    space-major, centre ``Y``, score every (candidate, alpha) pair per voxel by CV (``cv``
    contiguous blocks, or leave-one-run-out with ``runs``; mean Pearson r over folds) and
    refit each voxel on all TRs with its best pair. ``alphas`` is the grid of the common
    (geometric-mean) penalty, default ``RidgeEncoder``'s; ``ratios`` the candidates, see
    ``band_candidates``; ``random_state`` seeds the Dirichlet draws (3+ spaces).

    Fitted: ``alphas_`` (n_alphas,), ``candidates_`` (n_candidates, n_spaces),
    ``cv_scores_`` (n_candidates, n_alphas, n_voxels), ``best_candidates_`` (n_voxels,)
    (-1 for constant voxels), ``best_alphas_`` (n_voxels, n_spaces) per-space penalties
    (NaN for constant voxels), ``coef_`` (n_columns, n_voxels) on the standardised delayed
    bands (space-major, delay-major within a space), ``band_sizes_`` (n_spaces,) columns
    per band, ``intercept_`` (n_voxels,), ``feature_means_``, ``feature_scales_`` (lists of
    (n_features_k,)). ``dtype="float64"`` runs the JAX work in x64 mode.
    """

    def __init__(
        self,
        delays: Sequence[int] = (1, 2, 3, 4, 5),
        alphas: Sequence[float] | np.ndarray | None = None,
        ratios: Sequence[float] | np.ndarray | None = None,
        cv: int = 5,
        voxel_batch: int = 4096,
        dtype: str = "float32",
        zscore: bool = True,
        n_draws: int = 20,
        random_state: int | np.random.Generator | None = 0,
    ) -> None:
        self.delays = delays
        self.alphas = alphas
        self.ratios = ratios
        self.cv = cv
        self.voxel_batch = voxel_batch
        self.dtype = dtype
        self.zscore = zscore
        self.n_draws = n_draws
        self.random_state = random_state

    def _check(self, name: str, A: Any, n_trs: int | None = None) -> np.ndarray:
        return check_matrix(name, A, self.dtype, n_trs, reference="Xs[0]")

    def _check_spaces(self, Xs: Any) -> list[np.ndarray]:
        """Validate Xs: a non-empty sequence of 2-D arrays with one n_trs."""
        if isinstance(Xs, np.ndarray) or not isinstance(Xs, Sequence) or len(Xs) == 0:
            raise ValueError("Xs must be a non-empty list of (n_trs, n_features_k) arrays")
        first = self._check("Xs[0]", Xs[0])
        return [first] + [
            self._check(f"Xs[{k}]", X, first.shape[0]) for k, X in enumerate(Xs[1:], start=1)
        ]

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("BandedRidgeEncoder is not fitted yet: call fit(Xs, Y) first")

    def _bands(self, Xs: Any, runs: Any) -> list[np.ndarray]:
        """Standardised, delayed bands: K arrays (n_trs, n_features_k * n_delays)."""
        Xs = self._check_spaces(Xs)
        if len(Xs) != len(self.feature_means_):
            raise ValueError(f"got {len(Xs)} feature spaces, fitted on {len(self.feature_means_)}")
        for k, (X, mean) in enumerate(zip(Xs, self.feature_means_, strict=True)):
            if X.shape[1] != mean.size:
                raise ValueError(f"Xs[{k}] has {X.shape[1]} features, fitted on {mean.size}")
        return [
            make_delays((X - m) / s, self.delays, runs)
            for X, m, s in zip(Xs, self.feature_means_, self.feature_scales_, strict=True)
        ]

    def _column_scale(self, candidate: int, dtype: np.dtype) -> np.ndarray:
        """Per-column band scaling 1/sqrt(c_k) of one candidate: (n_columns,)."""
        scale = 1.0 / np.sqrt(self.candidates_[candidate])
        return np.repeat(scale, self.band_sizes_).astype(dtype)

    def _cv_scores(self, design: np.ndarray, Y: np.ndarray, runs: Any) -> np.ndarray:
        """CV Pearson r per (candidate, alpha, voxel): (n_candidates, n_alphas, n_voxels)."""
        scores = []
        for g in range(len(self.candidates_)):
            scaled = design * self._column_scale(g, design.dtype)
            cv = ridge_cv_scores(scaled, Y, self.alphas_, self.cv, runs, self.voxel_batch)
            scores.append(np.asarray(cv))
        return np.stack(scores)

    def _refit(self, design: np.ndarray, Y: np.ndarray, best: np.ndarray) -> np.ndarray:
        """Weights (n_columns, n_voxels) from one decomposition per chosen candidate.

        ``best`` (n_voxels,): flat index ``candidate * n_alphas + alpha``, -1 = skip voxel.
        """
        coef = np.zeros((design.shape[1], Y.shape[1]), dtype=Y.dtype)
        candidate, alpha = np.divmod(best, self.alphas_.size)
        for g in np.unique(candidate[best >= 0]):
            voxels = np.flatnonzero((candidate == g) & (best >= 0))
            scale = self._column_scale(g, design.dtype)
            u = ridge_weights(design * scale, Y[:, voxels], self.alphas_[alpha[voxels]])
            coef[:, voxels] = np.asarray(u) * scale[:, None]  # w_k = u_k / sqrt(c_k)
        return coef

    def _standardise(self, Xs: list[np.ndarray]) -> None:
        self.feature_means_ = [X.mean(axis=0) for X in Xs]
        scales = [X.std(axis=0) if self.zscore else np.ones(X.shape[1], X.dtype) for X in Xs]
        self.feature_scales_ = [np.where(s > 0, s, 1.0).astype(s.dtype) for s in scales]

    def fit(self, Xs: Sequence[Any], Y: Any, runs: Any = None) -> BandedRidgeEncoder:
        """Fit on Xs (K arrays (n_trs, n_features_k)), Y (n_trs, n_voxels), runs (n_trs,)."""
        Xs = self._check_spaces(Xs)
        Y = self._check("Y", Y, Xs[0].shape[0])
        n_delays = check_delays(self.delays).size
        cv_folds(Y.shape[0], self.cv, runs)  # fail on bad folds before any heavy work
        self.alphas_ = check_alphas(self.alphas)
        rng = np.random.default_rng(self.random_state)
        self.candidates_ = band_candidates(len(Xs), self.ratios, self.n_draws, rng)
        self._standardise(Xs)
        self.band_sizes_ = np.array([X.shape[1] * n_delays for X in Xs])
        design = np.hstack(self._bands(Xs, runs))
        constant = np.ptp(Y, axis=0) == 0
        self.intercept_ = Y.mean(axis=0)
        Y_centred = np.where(constant, 0.0, Y - self.intercept_).astype(Y.dtype)
        with precision_scope(Y.dtype):
            scores = np.where(constant, np.nan, self._cv_scores(design, Y_centred, runs))
            self.cv_scores_ = scores
            flat = best_alphas_from_scores(scores.reshape(-1, Y.shape[1]), np.arange(scores[..., 0].size))
            best = np.where(np.isnan(flat), -1, flat).astype(np.int64)
            self.coef_ = self._refit(design, Y_centred, best)
        self.best_candidates_ = np.where(best >= 0, best // self.alphas_.size, -1)
        common = np.where(best >= 0, self.alphas_[best % self.alphas_.size], np.nan)
        self.best_alphas_ = common[:, None] * self.candidates_[self.best_candidates_]
        warn_constant(constant, "the training data")
        warn_grid_edges(common[best >= 0], self.alphas_)
        return self

    def predict_split(self, Xs: Sequence[Any], runs: Any = None) -> np.ndarray:
        """Per-space contributions (n_spaces, n_trs, n_voxels); they sum to predict - intercept."""
        self._check_fitted()
        bounds = np.cumsum(self.band_sizes_)[:-1]
        coefs = np.split(self.coef_, bounds, axis=0)
        return np.stack([B @ W for B, W in zip(self._bands(Xs, runs), coefs, strict=True)])

    def predict(self, Xs: Sequence[Any], runs: Any = None) -> np.ndarray:
        """Predicted responses (n_trs, n_voxels) for Xs (K arrays (n_trs, n_features_k))."""
        self._check_fitted()
        return np.hstack(self._bands(Xs, runs)) @ self.coef_ + self.intercept_

    def score(self, Xs: Sequence[Any], Y: Any, runs: Any = None) -> np.ndarray:
        """Per-voxel Pearson r (n_voxels,) between Y (n_trs, n_voxels) and the prediction."""
        self._check_fitted()
        Xs = self._check_spaces(Xs)
        Y = self._check("Y", Y, Xs[0].shape[0])
        if Y.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"Y has {Y.shape[1]} voxels, fitted on {self.coef_.shape[1]}")
        warn_constant(np.ptp(Y, axis=0) == 0, "Y")
        return pearson_r(Y, self.predict(Xs, runs))
