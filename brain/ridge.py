"""Ridge regression for voxel-wise encoding models: spectral solvers and an estimator.

Every solver decomposes the training design once and then reads off the solution for any
ridge penalty ``alpha`` from the spectrum (no re-solve per alpha or per voxel)::

    W(alpha) = basis @ diag(gain / (power + alpha)) @ rotate @ Y

- primal (``n_features <= n_samples``): thin SVD ``X = U S V^T``; ``basis = V``,
  ``rotate = U^T``, ``gain = s``, ``power = s^2``;
- dual (``n_features > n_samples``): eigendecomposition of the kernel ``X X^T = Q L Q^T``;
  ``basis = X^T Q``, ``rotate = Q^T``, ``gain = 1``, ``power = L``.

Both minimise ``||Y - X W||^2 + alpha ||W||^2`` (no intercept: centre the data first, as
``RidgeEncoder`` does). The solvers are pure JAX, float32 unless given float64 (which needs
JAX's x64 mode, e.g. ``with jax.enable_x64(True):``); the estimator converts at its edges.

Shapes: ``X`` (n_samples, n_features), ``Y`` (n_samples, n_voxels), alphas (n_alphas,).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from brain.delays import check_delays, make_delays
from brain.scoring import neg_mse, pearson_r, r2_score

Method = Literal["auto", "primal", "dual"]
Folds = list[tuple[np.ndarray, np.ndarray]]
SCORERS: dict[str, Callable[[Any, Any], Any]] = {"r": pearson_r, "r2": r2_score, "neg_mse": neg_mse}
MIN_TEST_TRS = 3  # a held-out block shorter than this gives no usable correlation
TIE_SLOPE = 1e-10  # himalaya's tie-break: + TIE_SLOPE * log(alpha) favours the larger alpha


class Spectral(NamedTuple):
    """One decomposition of a training design; ``W(a) = basis diag(gain/(power+a)) rotate Y``.

    basis (n_features, k), rotate (k, n_samples), gain (k,), power (k,), with
    ``k = min(n_samples, n_features)`` (primal) or ``n_samples`` (dual).
    """

    basis: jax.Array
    rotate: jax.Array
    gain: jax.Array
    power: jax.Array


def _as_float(A: Any) -> jax.Array:
    """JAX array, float32 unless already float32/float64 (float64 needs x64 mode)."""
    A = jnp.asarray(A)
    return A if A.dtype in (jnp.float32, jnp.float64) else A.astype(jnp.float32)


def _resolve(method: Method, n_samples: int, n_features: int) -> str:
    if method == "auto":
        return "primal" if n_features <= n_samples else "dual"
    if method not in ("primal", "dual"):
        raise ValueError(f"method must be 'auto', 'primal' or 'dual', got {method!r}")
    return method


@partial(jax.jit, static_argnames="method")
def _decompose(X: jax.Array, method: str) -> Spectral:
    if method == "primal":
        U, s, Vt = jnp.linalg.svd(X, full_matrices=False)
        return Spectral(Vt.T, U.T, s, s * s)
    power, Q = jnp.linalg.eigh(X @ X.T)
    return Spectral(X.T @ Q, Q.T, jnp.ones_like(power), jnp.maximum(power, 0.0))


def spectral_factors(X_train: Any, method: Method = "auto") -> Spectral:
    """Decompose ``X_train`` (n_samples, n_features) once: SVD (primal) or kernel eigh (dual).

    ``method="auto"`` picks primal when ``n_features <= n_samples``.
    """
    X_train = _as_float(X_train)
    if X_train.ndim != 2:
        raise ValueError(f"X_train must be 2-D (n_samples, n_features), got {X_train.shape}")
    return _decompose(X_train, _resolve(method, *X_train.shape))


def _check_solver_inputs(X: jax.Array, Y: jax.Array, X_test: jax.Array | None = None) -> None:
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(
            "need X (n_samples, n_features) and Y (n_samples, n_voxels) with the same "
            f"n_samples, got X {X.shape} and Y {Y.shape}"
        )
    if X_test is not None and (X_test.ndim != 2 or X_test.shape[1] != X.shape[1]):
        raise ValueError(f"X_test must be (n_test, {X.shape[1]}), got {X_test.shape}")


@jax.jit
def _path(spec: Spectral, Y: jax.Array, X_test: jax.Array, alphas: jax.Array) -> jax.Array:
    shrink = spec.gain / (spec.power + alphas[:, None])  # (n_alphas, k)
    return jnp.einsum("tk,ak,kv->atv", X_test @ spec.basis, shrink, spec.rotate @ Y)


def ridge_path(
    X_train: Any, Y_train: Any, X_test: Any, alphas: Any, method: Method = "auto"
) -> jax.Array:
    """Ridge predictions on ``X_test`` for every alpha from one decomposition of ``X_train``.

    X_train (n_train, n_features), Y_train (n_train, n_voxels), X_test (n_test, n_features),
    alphas (n_alphas,) > 0 -> (n_alphas, n_test, n_voxels).
    """
    X_train, Y_train, X_test = _as_float(X_train), _as_float(Y_train), _as_float(X_test)
    _check_solver_inputs(X_train, Y_train, X_test)
    alphas = jnp.atleast_1d(jnp.asarray(alphas, dtype=X_train.dtype))
    return _path(spectral_factors(X_train, method), Y_train, X_test, alphas)


@jax.jit
def _weights(spec: Spectral, Y: jax.Array, alphas: jax.Array) -> jax.Array:
    shrink = spec.gain[:, None] / (spec.power[:, None] + alphas[None, :])  # (k, n_voxels)
    return spec.basis @ (shrink * (spec.rotate @ Y))


def _voxel_chunks(Y: Any, batch: int, offset: np.ndarray | None, dtype: Any):
    """(start, stop, chunk) over voxel columns of ``Y`` (numpy stays on the host until its
    chunk is needed), each chunk padded with zero columns to ``batch`` and minus ``offset``."""
    n_voxels = Y.shape[1]
    for start in range(0, n_voxels, batch):
        stop = min(start + batch, n_voxels)
        chunk = Y[:, start:stop]
        if offset is not None:
            chunk = chunk - offset[start:stop]
        chunk = jnp.asarray(chunk, dtype=dtype)
        if stop - start < batch:
            chunk = jnp.pad(chunk, ((0, 0), (0, batch - (stop - start))))
        yield start, stop, chunk


def ridge_weights(X: Any, Y: Any, alphas: Any, method: Method = "auto", voxel_batch: int | None = None,
                  offset: np.ndarray | None = None) -> jax.Array | np.ndarray:
    """Ridge weights (n_features, n_voxels), each voxel with its own alpha, one decomposition.

    X (n_samples, n_features), Y (n_samples, n_voxels), alphas scalar or (n_voxels,) > 0.
    The per-voxel shrinkage is applied in the spectral basis, so voxels need no grouping.
    With ``voxel_batch``, voxels go through in chunks (``Y`` may stay a numpy array, minus
    ``offset`` per voxel) and the result is one preallocated numpy array: memory for
    paper-sized problems stays at the weights plus one chunk.
    """
    X = _as_float(X)
    if voxel_batch is None and offset is None:
        Y = _as_float(Y)
        _check_solver_inputs(X, Y)
        alphas = jnp.broadcast_to(jnp.asarray(alphas, dtype=X.dtype), (Y.shape[1],))
        return _weights(spectral_factors(X, method), Y, alphas)
    _check_solver_inputs(X, Y)
    n_voxels = Y.shape[1]
    batch = min(voxel_batch or n_voxels, n_voxels)
    alphas = np.broadcast_to(np.asarray(alphas, dtype=X.dtype), (n_voxels,))
    spec = spectral_factors(X, method)
    out = np.empty((X.shape[1], n_voxels), dtype=X.dtype)
    for start, stop, chunk in _voxel_chunks(Y, batch, offset, X.dtype):
        a = np.ones(batch, X.dtype)
        a[: stop - start] = alphas[start:stop]
        out[:, start:stop] = np.asarray(_weights(spec, chunk, jnp.asarray(a)))[:, : stop - start]
    return out


def cv_folds(n_trs: int, cv: int | None = 5, runs: Any = None, groups: Any = None) -> Folds:
    """(train_idx, test_idx) pairs: ``cv`` contiguous blocks, leave-one-run-out, or folds of
    whole groups.

    With ``runs`` (n_trs,) integer labels every distinct label is held out once and ``cv``
    is not used. With ``groups`` (n_trs,) labels (e.g. the stimulus each TR shows; any
    sortable labels) every fold holds out whole groups, so the TRs of one group (all the
    runs in which a stimulus was shown) are never on both sides: ``cv=None`` or ``cv`` >= the
    number of groups holds out each group once (leave-one-group-out, in sorted label order);
    a smaller ``cv`` deals the groups to ``cv`` folds as scikit-learn's unshuffled
    ``GroupKFold`` does: the largest group first, each to the fold with the fewest TRs so far
    (ties: the later label first, the first fold). ``groups`` decide the folds when both are
    given (``runs`` still bound the FIR delays, see :func:`brain.delays.make_delays`). Every
    fold by group passes :func:`check_folds`. Raises ``ValueError`` when the folds would be
    degenerate or a label array has the wrong shape.
    """
    index = np.arange(n_trs)
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (n_trs,):
            raise ValueError(f"groups must have shape (n_trs,) = ({n_trs},), got {labels.shape}")
        if runs is not None and np.shape(runs) != (n_trs,):
            raise ValueError(f"runs must have shape (n_trs,) = ({n_trs},), got {np.shape(runs)}")
        names, of_tr, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        if len(names) < 2:
            raise ValueError(f"folds by group need at least 2 groups, got {len(names)} ({names.tolist()})")
        if cv is not None and (isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2):
            raise ValueError(f"cv must be None (one fold per group) or an int >= 2 (folds of whole groups), "
                             f"got {cv!r}")
        n_folds = len(names) if cv is None else min(int(cv), len(names))
        fold_of = np.arange(len(names))
        if n_folds < len(names):
            load = np.zeros(n_folds, dtype=np.int64)
            for g in np.argsort(sizes, kind="stable")[::-1]:
                fold_of[g] = int(np.argmin(load))
                load[fold_of[g]] += sizes[g]
        held_out = [index[fold_of[of_tr] == k] for k in range(n_folds)]
        folds = [(np.setdiff1d(index, test), test) for test in held_out]
        check_folds(folds, labels)
        return folds
    if runs is not None:
        labels = np.asarray(runs)
        if labels.shape != (n_trs,):
            raise ValueError(f"runs must have shape (n_trs,) = ({n_trs},), got {labels.shape}")
        held_out = [index[labels == r] for r in np.unique(labels)]
        if len(held_out) < 2:
            raise ValueError(f"leave-one-run-out needs at least 2 runs, got {len(held_out)}")
    else:
        if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
            raise ValueError(f"cv must be an int >= 2 (number of blocks), got {cv!r}")
        if n_trs < MIN_TEST_TRS * cv:
            raise ValueError(
                f"too few TRs for cv={cv} contiguous blocks: n_trs={n_trs}, need at least "
                f"{MIN_TEST_TRS * cv} ({MIN_TEST_TRS} per block)"
            )
        held_out = np.array_split(index, cv)
    return [(np.setdiff1d(index, test), test) for test in held_out]


def check_folds(folds: Folds, groups: Any) -> None:
    """Refuse folds that would leak: a group (e.g. a stimulus, whose presentations share
    their response) with TRs on both the training and the held-out side of a fold.
    ``folds`` as :func:`cv_folds` gives them, ``groups`` (n_trs,) labels; the
    ``ValueError`` names the fold, the groups and their TRs on each side."""
    labels = np.asarray(groups)
    for k, (train, test) in enumerate(folds):
        both = np.intersect1d(labels[train], labels[test]).tolist()
        if both:
            sides = ", ".join(f"{g!r}: {int(np.sum(labels[train] == g))} TRs in training, "
                              f"{int(np.sum(labels[test] == g))} held out" for g in both[:5])
            raise ValueError(f"fold {k} would leak: {len(both)} group(s) on both sides ({sides}); hold out "
                             "every TR of a group together (cv_folds(..., groups=...))")


def fold_groups(folds: Folds, groups: Any) -> list[list[Any]]:
    """The groups each fold holds out, sorted: one list per fold (for the record: which
    stimuli were validated together)."""
    labels = np.asarray(groups)
    return [np.unique(labels[test]).tolist() for _, test in folds]


@partial(jax.jit, static_argnames="scorer")
def _chunk_scores(
    A: jax.Array,
    spec: Spectral,
    Y_train: jax.Array,
    Y_test: jax.Array,
    alphas: jax.Array,
    scorer: Callable[[Any, Any], Any],
) -> jax.Array:
    """Held-out scores (n_alphas, batch); one alpha at a time keeps memory at (n_test, batch)."""
    projected = spec.rotate @ Y_train  # (k, batch)

    def one_alpha(alpha: jax.Array) -> jax.Array:
        return scorer(Y_test, A @ ((spec.gain / (spec.power + alpha))[:, None] * projected))

    return jax.lax.map(one_alpha, alphas)


def ridge_cv_scores(
    X: Any,
    Y: Any,
    alphas: Any,
    cv: int = 5,
    runs: Any = None,
    voxel_batch: int = 4096,
    method: Method = "auto",
    score: str = "r",
    offset: np.ndarray | None = None,
    groups: Any = None,
) -> jax.Array:
    """Per-voxel cross-validated scores for each alpha: (n_alphas, n_voxels).

    X (n_trs, n_features), Y (n_trs, n_voxels), alphas (n_alphas,) > 0. Folds from
    ``cv_folds(n_trs, cv, runs, groups)``; each training set is decomposed once, and voxels go
    through in chunks of ``voxel_batch`` (a numpy ``Y`` stays on the host, so only one chunk
    is ever copied). The score (``"r2"``, ``"r"``: Pearson r, ``"neg_mse"``: himalaya's
    default ``l2_neg_loss``) is averaged over folds in float64, as himalaya does, ignoring
    folds where it is NaN (held-out block constant; himalaya scores such a fold R² 0). The data are not re-centred
    per fold: centre X and Y beforehand, or give ``offset`` (n_voxels,) to subtract from Y.
    """
    X = _as_float(X)
    _check_solver_inputs(X, Y)  # shapes only: Y may stay a numpy array
    check_score(score, "score")
    if voxel_batch < 1:
        raise ValueError(f"voxel_batch must be >= 1, got {voxel_batch}")
    scorer = SCORERS[score]
    folds = cv_folds(X.shape[0], cv, runs, groups)
    alphas = jnp.atleast_1d(jnp.asarray(alphas, dtype=X.dtype))
    n_voxels = Y.shape[1]
    batch = min(voxel_batch, n_voxels)
    per_fold = []
    for train, test in folds:
        spec = spectral_factors(X[train], method)
        A = X[test] @ spec.basis
        spec = spec._replace(basis=None)  # not needed for scoring; frees (n_features, k)
        total = np.empty((len(alphas), n_voxels), dtype=np.float64)
        for start, stop, chunk in _voxel_chunks(Y, batch, offset, X.dtype):
            scores = _chunk_scores(A, spec, chunk[train], chunk[test], alphas, scorer)
            total[:, start:stop] = np.asarray(scores)[:, : stop - start]  # zero columns score NaN, cut
        per_fold.append(total)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all folds NaN: a constant voxel
        return jnp.asarray(np.nanmean(np.stack(per_fold), axis=0), dtype=X.dtype)


def check_matrix(name: str, A: Any, dtype: str, n_trs: int | None = None,
                 reference: str = "X") -> np.ndarray:
    """``A`` as a finite 2-D ``dtype`` array; with ``n_trs``, its rows must match those of
    ``reference``. Errors name the array, its shape and the offending sizes."""
    A = np.asarray(A, dtype=np.dtype(dtype))
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_trs, n_columns), got shape {A.shape}")
    if n_trs is not None and A.shape[0] != n_trs:
        raise ValueError(f"{reference} and {name} must have the same n_trs, got {n_trs} and {A.shape[0]}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} {A.shape} holds {A.size - np.isfinite(A).sum()} NaN/inf")
    return A


def check_alphas(alphas: Any) -> np.ndarray:
    """The sorted alpha grid (n_alphas,) float64; ``None`` gives logspace(-2, 7, 20)."""
    grid = np.logspace(-2, 7, 20) if alphas is None else np.asarray(alphas)
    grid = np.sort(np.atleast_1d(grid).astype(np.float64))
    if grid.ndim != 1 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be finite and > 0, got {grid}")
    return grid


def precision_scope(dtype: np.dtype) -> contextlib.AbstractContextManager[Any]:
    """JAX's x64 mode for float64 work, scoped to the ``with`` block."""
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()


def check_score(score: str, name: str = "score_cv") -> str:
    """``score`` if it names a CV score (``SCORERS``), else a ``ValueError`` listing them."""
    if score not in SCORERS:
        raise ValueError(f"{name} must be one of {sorted(SCORERS)}, got {score!r}")
    return score


def select_alphas(scores: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best alpha per voxel from mean CV scores (n_alphas, n_voxels), as himalaya picks it.

    Each score gets ``TIE_SLOPE * log(alpha)`` added (in float64) before the argmax, so
    alphas whose scores tie (to ~1e-10) go to the larger one. Returns the index into
    ``alphas`` (n_voxels,), -1 where every score is NaN, and the chosen mean score (n_voxels,)
    without the slope, NaN there.
    """
    scores = np.asarray(scores, dtype=np.float64)
    undefined = np.all(np.isnan(scores), axis=0)
    tilted = scores + TIE_SLOPE * np.log(np.asarray(alphas, dtype=np.float64))[:, None]
    index = np.argmax(np.where(np.isnan(scores), -np.inf, tilted), axis=0)
    best = np.take_along_axis(scores, index[None], axis=0)[0]
    return np.where(undefined, -1, index), np.where(undefined, np.nan, best)


def best_alphas_from_scores(scores: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Alpha with the highest score per voxel (n_voxels,), ties to the larger alpha
    (``select_alphas``); NaN where every score is NaN."""
    index, _ = select_alphas(scores, alphas)
    return np.where(index < 0, np.nan, np.asarray(alphas, dtype=np.float64)[index])


def grid_edges(best: np.ndarray, alphas: np.ndarray) -> dict[str, int]:
    """How many scored voxels chose the grid's ends: ``n_at_min``, ``n_at_max`` and
    ``n_voxels`` (voxels with a chosen alpha, the NaN ones left out). ``best`` (n_voxels,)."""
    best = best[~np.isnan(best)]
    return {"n_at_min": int(np.sum(best == alphas[0])), "n_at_max": int(np.sum(best == alphas[-1])),
            "n_voxels": int(best.size)}


def warn_constant(constant: np.ndarray, where: str) -> None:
    if constant.any():
        warnings.warn(
            f"{int(constant.sum())} of {constant.size} voxels have constant responses (zero "
            f"variance) in {where}; they are scored NaN",
            UserWarning,
            stacklevel=3,
        )


def warn_grid_edges(edges: dict[str, int], alphas: np.ndarray) -> None:
    """Warn when voxels chose an end of the grid; ``edges`` from ``grid_edges``."""
    n_low, n_high = edges["n_at_min"], edges["n_at_max"]
    if alphas.size > 1 and n_low + n_high > 0:
        warnings.warn(
            f"{n_low} of {edges['n_voxels']} scored voxels chose the smallest alpha ({alphas[0]:g}) and "
            f"{n_high} the largest ({alphas[-1]:g}) of the grid; widen the grid if many do",
            UserWarning,
            stacklevel=3,
        )


def check_sample_mask(sample_mask: Any, n_trs: int, groups: Any = None) -> np.ndarray | None:
    """``sample_mask`` as a (n_trs,) bool array (True: a kept TR), None when it is None or
    keeps every TR. Refused: another shape or dtype, fewer than two kept TRs."""
    if sample_mask is None:
        return None
    m = np.asarray(sample_mask)
    if m.shape != (n_trs,) or m.dtype != bool:
        raise ValueError(f"sample_mask must be a ({n_trs},) bool array (True: a kept TR), got {m.shape} {m.dtype}")
    if m.sum() < 2:
        raise ValueError(f"sample_mask keeps {int(m.sum())} of {n_trs} TRs; nothing to fit on")
    return None if m.all() else m


def kept_labels(labels: Any, mask: np.ndarray | None) -> Any:
    return labels if labels is None or mask is None else np.asarray(labels)[mask]


class RidgeEncoder:
    """FIR ridge encoding model with a per-voxel penalty chosen by cross-validation.

    ``fit(X, Y, runs, groups)``: z-score the features (training mean/std; with
    ``zscore=False`` only centre them), stack FIR ``delays`` (TRs, never crossing runs),
    centre ``Y``, score every alpha per voxel by CV (:func:`cv_folds`: ``cv`` contiguous
    blocks; leave-one-run-out when ``runs`` is given; whole groups per fold when ``groups``
    is, e.g. stimuli shown in several runs, ``cv=None`` holding out one group at a time),
    and refit on all TRs with each voxel's best alpha. With ``sample_mask`` (n_trs,) bool the
    delays are built on the whole runs and the censored rows (False) are then dropped from the
    delayed design, ``Y`` and the folds (which index the kept rows only; the values of ``Y`` at
    censored rows are never used). ``score_cv`` is
    the CV score averaged over folds: ``"r2"`` (default; scale-aware, so a noise voxel
    prefers a large alpha), ``"r"`` (Pearson r, blind to the prediction's scale) or
    ``"neg_mse"`` (himalaya's default ``l2_neg_loss``). Ties go to the larger alpha, as in
    himalaya (``select_alphas``). (Not ``score=``: that would hide the ``score`` method.)

    Fitted: ``alphas_`` (n_alphas,) sorted grid, ``cv_score_grid_`` (n_alphas, n_voxels)
    every mean CV score, ``cv_scores_`` (n_voxels,) the one at each voxel's chosen alpha,
    ``alpha_edges_`` (``grid_edges``: voxels at the grid's smallest / largest alpha),
    ``best_alphas_`` (n_voxels,) (NaN for constant voxels), ``coef_``
    (n_features * n_delays, n_voxels) on standardised delayed features (delay-major),
    ``intercept_`` (n_voxels,), ``feature_mean_``, ``feature_scale_`` (n_features,).
    ``dtype="float64"`` runs the JAX work in x64 mode, scoped to each call.
    """

    def __init__(
        self,
        delays: Sequence[int] = (1, 2, 3, 4, 5),
        alphas: Sequence[float] | np.ndarray | None = None,
        cv: int | None = 5,
        voxel_batch: int = 4096,
        dtype: str = "float32",
        score_cv: str = "r2",
        zscore: bool = True,
    ) -> None:
        self.delays = delays
        self.alphas = alphas
        self.cv = cv
        self.voxel_batch = voxel_batch
        self.dtype = dtype
        self.score_cv = score_cv
        self.zscore = zscore

    def _check(self, name: str, A: Any, n_trs: int | None = None) -> np.ndarray:
        return check_matrix(name, A, self.dtype, n_trs, reference="X")

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("RidgeEncoder is not fitted yet: call fit(X, Y) first")

    def _design(self, X: np.ndarray, runs: Any) -> np.ndarray:
        """Standardise with the training statistics, then delay: (n_trs, n_features*n_delays)."""
        if X.shape[1] != self.feature_mean_.size:
            raise ValueError(f"X has {X.shape[1]} features, fitted on {self.feature_mean_.size}")
        return make_delays((X - self.feature_mean_) / self.feature_scale_, self.delays, runs)

    def fit(self, X: Any, Y: Any, runs: Any = None, groups: Any = None, sample_mask: Any = None) -> RidgeEncoder:
        """Fit on X (n_trs, n_features), Y (n_trs, n_voxels), optional runs (n_trs,) integer
        labels (delays and, without ``groups``, the folds), groups (n_trs,) labels (the folds)
        and sample_mask (n_trs,) bool (False: a censored TR, left out after the delays)."""
        X = self._check("X", X)
        Y = self._check("Y", Y, X.shape[0])
        check_score(self.score_cv)
        check_delays(self.delays)
        mask = check_sample_mask(sample_mask, X.shape[0])
        kept_runs, kept_groups = kept_labels(runs, mask), kept_labels(groups, mask)
        n_kept = X.shape[0] if mask is None else int(mask.sum())
        cv_folds(n_kept, self.cv, kept_runs, kept_groups)  # fail on bad folds before any heavy work
        self.alphas_ = check_alphas(self.alphas)
        self.feature_mean_ = X.mean(axis=0)
        scale = X.std(axis=0) if self.zscore else np.ones(X.shape[1], X.dtype)
        self.feature_scale_ = np.where(scale > 0, scale, 1.0).astype(X.dtype)
        design = self._design(X, runs)
        if mask is not None:  # delays on the whole runs, then the censored rows out
            design, Y, runs, groups = design[mask], Y[mask], kept_runs, kept_groups
        constant = np.ptp(Y, axis=0) == 0
        self.intercept_ = Y.mean(axis=0)
        # Y is centred chunk by chunk (offset=): no second copy of a paper-sized Y.
        with precision_scope(Y.dtype):
            scores = ridge_cv_scores(
                design,
                Y,
                self.alphas_,
                self.cv,
                runs,
                self.voxel_batch,
                score=self.score_cv,
                offset=self.intercept_,
                groups=groups,
            )
            self.cv_score_grid_ = np.where(constant, np.nan, np.asarray(scores))
            index, self.cv_scores_ = select_alphas(self.cv_score_grid_, self.alphas_)
            undefined = index < 0
            self.best_alphas_ = np.where(undefined, np.nan, self.alphas_[index])
            refit_alphas = np.where(undefined, self.alphas_[-1], self.best_alphas_)
            coef = ridge_weights(design, Y, refit_alphas, voxel_batch=self.voxel_batch, offset=self.intercept_)
        coef[:, undefined] = 0.0
        self.coef_ = coef.astype(Y.dtype, copy=False)
        warn_constant(constant, "the training data")
        self.alpha_edges_ = grid_edges(self.best_alphas_, self.alphas_)
        warn_grid_edges(self.alpha_edges_, self.alphas_)
        return self

    def predict(self, X: Any, runs: Any = None) -> np.ndarray:
        """Predicted responses (n_trs, n_voxels) for X (n_trs, n_features)."""
        self._check_fitted()
        design = self._design(self._check("X", X), runs)
        return design @ self.coef_ + self.intercept_

    def score(self, X: Any, Y: Any, runs: Any = None) -> np.ndarray:
        """Per-voxel Pearson r (n_voxels,) between Y (n_trs, n_voxels) and the prediction."""
        self._check_fitted()
        X = self._check("X", X)
        Y = self._check("Y", Y, X.shape[0])
        if Y.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"Y has {Y.shape[1]} voxels, fitted on {self.coef_.shape[1]}")
        warn_constant(np.ptp(Y, axis=0) == 0, "Y")
        return pearson_r(Y, self.predict(X, runs))
