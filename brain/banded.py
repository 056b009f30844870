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

``ratios="dirichlet"`` searches as himalaya's ``solve_group_ridge_random_search`` /
``MultipleKernelRidgeCV(solver="random_search")`` do (``dirichlet_candidates``): ``n_iter``
band weights ``gamma`` on the simplex drawn from ``Dirichlet(concentration)`` (cycling
through the ``concentration`` list), the first replaced by equal weights ``1 / K``, and
penalties ``alpha_k = alpha / gamma_k``: ``c = 1 / gamma`` (not rescaled; ``alpha`` is then
himalaya's ``alpha``). An int ``random_state`` draws the very samples himalaya draws.

Choice (himalaya's rule): per candidate, the alpha with the best mean CV score plus
``TIE_SLOPE * log(alpha)`` (ties to the larger alpha); over candidates in order, a later one
replaces the current best only if its score is higher by more than the dtype's epsilon.

Shapes: ``Xs`` K arrays (n_trs, n_features_k), ``Y`` (n_trs, n_voxels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brain.delays import check_delays, make_delays
from brain.ridge import (
    TIE_SLOPE,
    check_alphas,
    check_matrix,
    check_sample_mask,
    check_score,
    cv_folds,
    grid_edges,
    kept_labels,
    precision_scope,
    ridge_cv_scores,
    ridge_weights,
    select_alphas,
    warn_constant,
    warn_grid_edges,
)
from brain.scoring import pearson_r, r2_score, r2_score_split

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


def dirichlet_candidates(
    n_spaces: int,
    n_iter: int = 100,
    concentration: float | Sequence[float] = (0.1, 1.0),
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
) -> np.ndarray:
    """Band weights ``gamma`` (n_iter, n_spaces) on the simplex, as himalaya draws them.

    himalaya's ``generate_dirichlet_samples`` then ``gammas[0] = 1 / n_spaces``:
    ``ceil(n_iter / n_conc)`` draws per concentration (``inf``: equal weights), interleaved
    ``[a0, a1, a0, a1, ..]``, cut to ``n_iter``; the first row is equal weights. An int or
    ``RandomState`` reproduces himalaya's draws; a ``Generator`` gives the same distribution.
    """
    conc = np.atleast_1d(np.asarray(concentration, dtype=np.float64))
    if n_iter < 1 or conc.ndim != 1 or conc.size == 0 or np.any(conc <= 0):
        raise ValueError(f"need n_iter >= 1 and concentrations > 0, got {n_iter} and {conc}")
    rng = random_state
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.RandomState(rng)
    per = int(np.ceil(n_iter / conc.size))
    draws = [
        np.full((per, n_spaces), 1.0 / n_spaces) if a == np.inf else rng.dirichlet([a] * n_spaces, per)
        for a in conc
    ]
    gamma = np.swapaxes(np.stack(draws), 0, 1).reshape(-1, n_spaces)[:n_iter]
    gamma[0] = 1.0 / n_spaces
    return gamma


def select_candidates(
    scores: np.ndarray, alphas: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """himalaya's choice over (candidate, alpha) per voxel from mean CV scores
    (n_candidates, n_alphas, n_voxels): see the module docstring. Returns candidate and
    alpha indices (n_voxels,), -1 where every score is NaN, and the chosen mean scores."""
    n_voxels = scores.shape[2]
    current = np.full(n_voxels, -np.inf)
    cand, alpha, best = np.full(n_voxels, -1), np.full(n_voxels, -1), np.full(n_voxels, np.nan)
    slope = TIE_SLOPE * np.log(alphas)
    for g, table in enumerate(scores):
        index, value = select_alphas(table, alphas)
        tilted = np.where(index < 0, -np.inf, value + slope[np.maximum(index, 0)])
        better = tilted > current + eps
        current[better], cand[better], alpha[better], best[better] = tilted[better], g, index[better], value[better]
    return cand, alpha, best


class BandedRidgeEncoder:
    """FIR banded-ridge encoding model: per-voxel, per-space penalties chosen by CV.

    ``fit(Xs, Y, runs, groups)``: z-score each space (training statistics; ``zscore=False``
    only centres), FIR-delay it (``delays`` in TRs, never crossing runs), concatenate the
    bands space-major, centre ``Y``, score every (candidate, alpha) pair per voxel by CV
    (:func:`brain.ridge.cv_folds`: ``cv`` contiguous blocks, leave-one-run-out with ``runs``,
    whole groups per fold with ``groups``; ``score_cv`` averaged over folds,
    ``"r2"`` (default), ``"r"`` or ``"neg_mse"`` as in ``RidgeEncoder``), choose by
    himalaya's rule (module docstring) and refit each voxel on all TRs with its best pair.
    ``sample_mask`` (n_trs,) bool: censored TRs (False) dropped after the delays, as in
    ``RidgeEncoder.fit``.
    ``alphas`` is the grid of the common penalty, default ``RidgeEncoder``'s. ``ratios``:
    ``None`` or ``"grid"`` (the fixed candidates of ``band_candidates``, ``random_state``
    seeding its draws for 3+ spaces), ``"dirichlet"`` (``n_iter`` himalaya-style random
    candidates from ``concentration``, seeded by ``random_state``), or explicit candidates.

    Fitted: ``alphas_`` (n_alphas,), ``candidates_`` (n_candidates, n_spaces),
    ``cv_score_grid_`` (n_candidates, n_alphas, n_voxels) every mean CV score, ``cv_scores_``
    (n_voxels,) the one at each voxel's chosen pair, ``alpha_edges_`` (voxels whose common
    alpha is the grid's smallest / largest, see ``grid_edges``), ``best_candidates_``
    (n_voxels,) (-1 for constant voxels), ``best_alphas_`` (n_voxels, n_spaces) per-space
    penalties (NaN for constant voxels), ``coef_`` (n_columns, n_voxels) on the standardised
    delayed bands (space-major, delay-major within a space), ``band_sizes_`` (n_spaces,)
    columns per band, ``intercept_`` (n_voxels,), ``feature_means_``, ``feature_scales_``
    (lists of (n_features_k,)). ``dtype="float64"`` runs the JAX work in x64 mode.
    """

    def __init__(
        self,
        delays: Sequence[int] = (1, 2, 3, 4, 5),
        alphas: Sequence[float] | np.ndarray | None = None,
        ratios: str | Sequence[float] | np.ndarray | None = None,
        cv: int | None = 5,
        voxel_batch: int = 4096,
        dtype: str = "float32",
        zscore: bool = True,
        n_draws: int = 20,
        random_state: int | np.random.Generator | None = 0,
        score_cv: str = "r2",
        n_iter: int = 100,
        concentration: float | Sequence[float] = (0.1, 1.0),
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
        self.score_cv = score_cv
        self.n_iter = n_iter
        self.concentration = concentration

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

    def _candidates(self, n_spaces: int) -> np.ndarray:
        """Relative penalties ``c`` (n_candidates, n_spaces) from ``ratios``."""
        if isinstance(self.ratios, str) and self.ratios not in ("grid", "dirichlet"):
            raise ValueError(f"ratios must be 'grid', 'dirichlet' or candidates, got {self.ratios!r}")
        if isinstance(self.ratios, str) and self.ratios == "dirichlet":
            if n_spaces == 1:
                return np.ones((1, 1))
            gamma = dirichlet_candidates(n_spaces, self.n_iter, self.concentration, self.random_state)
            return 1.0 / np.maximum(gamma, np.finfo(np.float64).tiny)
        ratios = None if isinstance(self.ratios, str) else self.ratios
        rng = np.random.default_rng(self.random_state)
        return band_candidates(n_spaces, ratios, self.n_draws, rng)

    def _cv_scores(self, design: np.ndarray, Y: np.ndarray, runs: Any, groups: Any = None) -> np.ndarray:
        """Mean CV score per (candidate, alpha, voxel): (n_candidates, n_alphas, n_voxels)."""
        scores = []
        for g in range(len(self.candidates_)):
            scaled = design * self._column_scale(g, design.dtype)
            cv = ridge_cv_scores(scaled, Y, self.alphas_, self.cv, runs, self.voxel_batch,
                                 score=self.score_cv, groups=groups)
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

    def fit(self, Xs: Sequence[Any], Y: Any, runs: Any = None, groups: Any = None,
            sample_mask: Any = None) -> BandedRidgeEncoder:
        """Fit on Xs (K arrays (n_trs, n_features_k)), Y (n_trs, n_voxels), runs (n_trs,)
        integer labels, groups (n_trs,) labels of the CV folds, sample_mask (n_trs,) bool
        (see ``RidgeEncoder.fit``)."""
        Xs = self._check_spaces(Xs)
        Y = self._check("Y", Y, Xs[0].shape[0])
        check_score(self.score_cv)
        n_delays = check_delays(self.delays).size
        mask = check_sample_mask(sample_mask, Y.shape[0])
        kept_runs, kept_groups = kept_labels(runs, mask), kept_labels(groups, mask)
        cv_folds(Y.shape[0] if mask is None else int(mask.sum()), self.cv, kept_runs, kept_groups)
        self.alphas_ = check_alphas(self.alphas)
        self.candidates_ = self._candidates(len(Xs))
        self._standardise(Xs)
        self.band_sizes_ = np.array([X.shape[1] * n_delays for X in Xs])
        design = np.hstack(self._bands(Xs, runs))
        if mask is not None:  # delays on the whole runs, then the censored rows out
            design, Y, runs, groups = design[mask], Y[mask], kept_runs, kept_groups
        constant = np.ptp(Y, axis=0) == 0
        self.intercept_ = Y.mean(axis=0)
        Y_centred = np.where(constant, 0.0, Y - self.intercept_).astype(Y.dtype)
        with precision_scope(Y.dtype):
            self.cv_score_grid_ = np.where(constant, np.nan, self._cv_scores(design, Y_centred, runs, groups))
            eps = float(np.finfo(Y.dtype).eps)
            candidate, alpha, self.cv_scores_ = select_candidates(self.cv_score_grid_, self.alphas_, eps)
            best = np.where(candidate >= 0, candidate * self.alphas_.size + alpha, -1)
            self.coef_ = self._refit(design, Y_centred, best)
        self.best_candidates_ = candidate
        common = np.where(candidate >= 0, self.alphas_[alpha], np.nan)
        self.best_alphas_ = common[:, None] * self.candidates_[candidate]
        self.alpha_edges_ = grid_edges(common, self.alphas_)
        warn_constant(constant, "the training data")
        warn_grid_edges(self.alpha_edges_, self.alphas_)
        return self

    def predict_split(self, Xs: Sequence[Any], runs: Any = None) -> np.ndarray:
        """Per-space contributions (n_spaces, n_trs, n_voxels), no intercept (himalaya's
        ``predict(split=True)``); they sum to ``predict - intercept_``."""
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

    def score_split(self, Xs: Sequence[Any], Y: Any, runs: Any = None) -> np.ndarray:
        """Split R² per space (n_spaces, n_voxels) of Y (n_trs, n_voxels), himalaya's
        ``score(split=True)``: ``r2_score_split(Y - mean(Y), predict_split(Xs))``.

        ``Y`` is centred on its own mean, as himalaya requires. The parts sum to
        ``r2_score(Y, predict_split(Xs).sum(0) + mean(Y))``, the joint R² with the test
        mean as intercept (``score_r2`` when that mean equals ``intercept_``); a space whose
        weights are ~0 (no signal) gets ~0. NaN for constant voxels.
        """
        self._check_fitted()
        Xs = self._check_spaces(Xs)
        Y = self._check("Y", Y, Xs[0].shape[0])
        if Y.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"Y has {Y.shape[1]} voxels, fitted on {self.coef_.shape[1]}")
        return r2_score_split(Y - Y.mean(axis=0), self.predict_split(Xs, runs))

    def score_r2(self, Xs: Sequence[Any], Y: Any, runs: Any = None) -> np.ndarray:
        """Per-voxel R² (n_voxels,) of the prediction (with ``intercept_``) against Y."""
        self._check_fitted()
        Xs = self._check_spaces(Xs)
        Y = self._check("Y", Y, Xs[0].shape[0])
        return r2_score(Y, self.predict(Xs, runs))
