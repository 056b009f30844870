"""Synthetic fMRI with planted ground truth: the embedded default of ``task=encoding``.

A latent stimulus (fast "sensory" and slow "semantic" components) feeds a stack of model
layers per feature space (early layers mostly sensory, deep layers mostly semantic; the
semantic components are shared by the spaces). Vertices of named regions on fsaverage5
respond to one chosen layer of one space through an SPM haemodynamic response, with a
known explained-variance fraction; the rest is Gaussian noise. The response is the SPM HRF
sampled at the lags ``hrf_lags`` (default 1-5 TRs, the encoder's default FIR delays). The same stimulus is shown
to several subjects (same voxel weights, independent noise); the test segment is viewed
``n_repeats`` times. Everything needed to check recovery is returned with the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brain.dataset import EncodingData

N_FSAVERAGE5 = 10242  # vertices per hemisphere


@dataclass(frozen=True)
class Region:
    """A planted region: ``seed`` (x, y, z) in mm on the left pial surface (mirrored to the
    right hemisphere), driven by ``space`` at normalised ``depth`` in [0, 1] (0 = first
    layer), explained variance ``ev``; ``space=None`` makes a noise-only region."""

    name: str
    seed: tuple[float, float, float]
    space: str | None
    depth: float = 0.0
    ev: float = 0.3


DEFAULT_REGIONS: tuple[Region, ...] = (
    Region("EVC", (-12.0, -98.0, 2.0), "video", 0.0),
    Region("LOC", (-44.0, -76.0, -4.0), "video", 0.4),
    Region("AC", (-52.0, -20.0, 6.0), "audio", 0.0),
    Region("AG", (-46.0, -64.0, 34.0), "video", 1.0),
    Region("IFG", (-50.0, 20.0, 10.0), "audio", 1.0),
    Region("PCC", (-6.0, -52.0, 28.0), None),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes of the synthetic experiment. TR in s."""

    n_subjects: int = 3
    n_runs: int = 4
    trs_per_run: int = 300
    n_test_trs: int = 300
    n_repeats: int = 2
    n_layers: int = 6
    n_features: int = 32
    n_latent: int = 8
    vertices_per_region: int = 40
    tr: float = 1.49
    hrf_lags: tuple[int, ...] = (1, 2, 3, 4, 5)
    spaces: tuple[str, ...] = ("video", "audio")
    regions: tuple[Region, ...] = field(default=DEFAULT_REGIONS)


@dataclass(frozen=True, kw_only=True)
class SyntheticData(EncodingData):
    """An :class:`EncodingData` plus the planted truth: signal_test (n_test, n_vox) the
    noiseless test response; true_space (n_vox,) index into spaces or -1; true_layer
    (n_vox,) or -1; ev (n_vox,) explained variance; theoretical_r (n_vox,): r of a
    perfect model on the repeat-averaged test data."""

    signal_test: np.ndarray
    true_space: np.ndarray
    true_layer: np.ndarray
    ev: np.ndarray
    theoretical_r: np.ndarray


def _ar1(rng: np.random.Generator, n: int, k: int, phi: float) -> np.ndarray:
    """(n, k) unit-variance AR(1) series with coefficient ``phi``."""
    x = np.empty((n, k))
    x[0] = rng.standard_normal(k)
    innov = rng.standard_normal((n, k)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + innov[t]
    return x


def _layers(rng: np.random.Generator, sensory: np.ndarray, semantic: np.ndarray,
            cfg: SyntheticConfig) -> list[np.ndarray]:
    """Layer features (n_trs, n_features): depth d mixes (1 - d) sensory + d semantic."""
    out = []
    for layer in range(cfg.n_layers):
        d = layer / max(cfg.n_layers - 1, 1)
        mix = np.concatenate([(1 - d) * sensory, d * semantic], axis=1)
        w = rng.standard_normal((mix.shape[1], cfg.n_features)) / np.sqrt(mix.shape[1])
        feats = np.tanh(mix @ w * 1.5)
        out.append((feats - feats.mean(0)) / feats.std(0))
    return out


def region_vertices(cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """fsaverage5 vertex indices (n_vox,) and region index (n_vox,): for each region the
    ``vertices_per_region`` pial vertices nearest its seed, half per hemisphere."""
    from nilearn.datasets import load_fsaverage

    pial = load_fsaverage("fsaverage5")["pial"].parts
    per_hemi = max(cfg.vertices_per_region // 2, 1)
    vertices, labels, taken = [], [], set()
    for r, region in enumerate(cfg.regions):
        for h, (hemi, sign) in enumerate((("left", 1.0), ("right", -1.0))):
            seed = np.array(region.seed) * np.array([sign, 1.0, 1.0])
            dist = np.linalg.norm(pial[hemi].coordinates - seed, axis=1)
            chosen = [i + h * N_FSAVERAGE5 for i in np.argsort(dist)]
            chosen = [i for i in chosen if i not in taken][:per_hemi]
            taken.update(chosen)
            vertices += chosen
            labels += [r] * len(chosen)
    return np.asarray(vertices), np.asarray(labels)


def make_synthetic(cfg: SyntheticConfig | None = None, seed: int = 0,
                   features: dict[str, list[np.ndarray]] | None = None) -> SyntheticData:
    """Generate one synthetic experiment (see module docstring).

    ``features``: real per-layer features {space: [(n_trs, n_features) per layer]} (e.g. a
    model's features of a stimulus from ``task=features``) used instead of the generated
    layers of that space, so the planted responses are driven by them; each needs
    ``n_runs * trs_per_run + n_test_trs`` rows (training TRs first)."""
    from nilearn.glm.first_level import spm_hrf

    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(seed)
    n_train, n_test = cfg.n_runs * cfg.trs_per_run, cfg.n_test_trs
    n_all = n_train + n_test
    semantic = _ar1(rng, n_all, cfg.n_latent, 0.95)
    feats = {s: _layers(rng, _ar1(rng, n_all, cfg.n_latent, 0.3), semantic, cfg) for s in cfg.spaces}
    for space, layers in (features or {}).items():
        if space not in cfg.spaces:
            raise ValueError(f"features for unknown space {space!r}; spaces: {list(cfg.spaces)}")
        layers = [np.asarray(x, dtype=np.float64) for x in layers]
        bad = [x.shape for x in layers if x.ndim != 2 or x.shape[0] != n_all]
        if not layers or bad:
            raise ValueError(f"features of {space!r}: need layers of shape ({n_all}, n_features) "
                             f"(n_runs * trs_per_run + n_test_trs rows), got {bad or 'no layers'}")
        sd = [x.std(0) for x in layers]
        feats[space] = [(x - x.mean(0)) / np.where(s > 0, s, 1.0) for x, s in zip(layers, sd)]
    vertices, region = region_vertices(cfg)
    n_vox = len(vertices)

    def _depth(space: str | None) -> int:
        return len(feats[space]) if space in feats else cfg.n_layers

    space_of = {s: i for i, s in enumerate(cfg.spaces)}
    true_space = np.array([space_of.get(cfg.regions[r].space, -1) for r in region])
    true_layer = np.array([-1 if cfg.regions[r].space is None
                           else int(round(cfg.regions[r].depth * (_depth(cfg.regions[r].space) - 1)))
                           for r in region])
    ev = np.array([cfg.regions[r].ev if cfg.regions[r].space else 0.0 for r in region])

    # The SPM response at the FIR model's lags (TRs) only, so the planted model is exactly
    # representable by an encoder with those delays and theoretical_r is attainable.
    full = spm_hrf(cfg.tr, oversampling=1)
    hrf = np.zeros(max(cfg.hrf_lags) + 1)
    hrf[list(cfg.hrf_lags)] = full[list(cfg.hrf_lags)]
    signal = np.zeros((n_all, n_vox))
    for v in np.flatnonzero(true_space >= 0):
        x = feats[cfg.spaces[true_space[v]]][true_layer[v]]
        drive = x @ rng.standard_normal(x.shape[1])
        s = np.convolve(drive, hrf)[:n_all]
        signal[:, v] = (s - s.mean()) / s.std()

    def noisy(sig: np.ndarray) -> np.ndarray:
        return np.sqrt(ev) * sig + np.sqrt(1 - ev) * rng.standard_normal(sig.shape)

    bold_train = np.stack([noisy(signal[:n_train]) for _ in range(cfg.n_subjects)])
    bold_test = np.stack([np.stack([noisy(signal[n_train:]) for _ in range(cfg.n_repeats)])
                          for _ in range(cfg.n_subjects)])
    noise_var = (1 - ev) / cfg.n_repeats
    theoretical_r = np.sqrt(ev / np.maximum(ev + noise_var, 1e-12))
    return SyntheticData(
        features_train={s: [f[:n_train] for f in feats[s]] for s in cfg.spaces},
        features_test={s: [f[n_train:] for f in feats[s]] for s in cfg.spaces},
        bold_train=bold_train.astype(np.float32), runs=np.repeat(np.arange(cfg.n_runs), cfg.trs_per_run),
        bold_test=bold_test.astype(np.float32), signal_test=signal[n_train:].astype(np.float32),
        vertices=vertices, region=region, region_names=tuple(r.name for r in cfg.regions),
        spaces=tuple(cfg.spaces), true_space=true_space, true_layer=true_layer, ev=ev,
        theoretical_r=theoretical_r, tr=cfg.tr,
    )
