"""Synthetic fMRI with planted ground truth: the embedded default of ``task=encoding``.

A latent stimulus (fast "sensory" and slow "semantic" components) feeds a stack of model
layers per feature space (early layers mostly sensory, deep layers mostly semantic; the
semantic components are shared by the spaces). Vertices of named regions on fsaverage5
respond to one chosen layer of one space through an SPM haemodynamic response sampled at
the lags ``hrf_lags`` (default 1-5 TRs). Each subject's response is a shared part plus a
subject-specific part (same layer, the subject's own weights). A single presentation is
``sqrt(ev) * response + sqrt(1 - ev) * noise`` with AR(1) noise (``noise_phi``) and a
per-voxel explained variance ``ev`` drawn from ``ev_range`` (default 0.05-0.15, as in real
naturalistic data); one region ("noise") has no signal at all. The test segment is viewed
``n_repeats`` times (1 allowed). Everything needed to check recovery is returned with the data.

Instruction mode (``SyntheticConfig.instructions``): the feature spaces are the task
instructions of one model. Each instruction's layer features are a common block (the same
for every instruction: what the model computes whatever it is asked) next to an
instruction-specific block (its own latent at depth; early layers mix the shared sensory
latent through the instruction's own weights). Region ``<instruction>_region`` responds to
that instruction's last layer (both blocks), so the instruction explains it fully and the
others only through the common block; region ``shared`` responds to the common block of the
last layer, which every instruction holds exactly (no instruction is better there); region
``noise`` has no signal. With ``instruction_specific=False`` every instruction region responds
to the common block too: a null experiment in which no instruction is better anywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from brain.dataset import EncodingData

N_FSAVERAGE5 = 10242  # vertices per hemisphere


@dataclass(frozen=True)
class Region:
    """A planted region: ``seed`` (x, y, z) in mm on the left pial surface (mirrored to the
    right hemisphere), driven by ``space`` at normalised ``depth`` in [0, 1] (0 = first
    layer); ``ev`` the explained variance of its voxels, or None to draw each voxel's from
    ``SyntheticConfig.ev_range``; ``space=None`` makes a region with no signal at all."""

    name: str
    seed: tuple[float, float, float]
    space: str | None
    depth: float = 0.0
    ev: float | None = None


DEFAULT_REGIONS: tuple[Region, ...] = (
    Region("EVC", (-12.0, -98.0, 2.0), "video", 0.0),
    Region("LOC", (-44.0, -76.0, -4.0), "video", 0.4),
    Region("AC", (-52.0, -20.0, 6.0), "audio", 0.0),
    Region("AG", (-46.0, -64.0, 34.0), "video", 1.0),
    Region("IFG", (-50.0, 20.0, 10.0), "audio", 1.0),
    Region("noise", (-6.0, -52.0, 28.0), None),  # posterior cingulate: pure noise
)
COMMON = "_common"  # instruction mode: the common block every instruction holds (a source, not a space)
INSTRUCTION_SEEDS = ((-46.0, -64.0, 34.0), (-50.0, 20.0, 10.0), (-52.0, -20.0, 6.0), (-12.0, -98.0, 2.0),
                     (-40.0, -30.0, 55.0))  # AG, IFG, AC, EVC, postcentral: one region per instruction
SHARED_SEED = (-44.0, -76.0, -4.0)  # LOC


def instruction_regions(instructions: tuple[str, ...], specific: bool = True) -> tuple[Region, ...]:
    """Regions of instruction mode: ``<name>_region`` per instruction (driven by that
    instruction's last layer, or by the common block when ``specific`` is False), ``shared``
    (the common block's last layer) and ``noise``."""
    if not 2 <= len(instructions) <= len(INSTRUCTION_SEEDS):
        raise ValueError(f"instruction mode needs 2..{len(INSTRUCTION_SEEDS)} instructions, got {list(instructions)}")
    if len(set(instructions)) != len(instructions) or COMMON in instructions:
        raise ValueError(f"instruction names must be distinct (and not {COMMON!r}), got {list(instructions)}")
    return (*(Region(f"{name}_region", seed, name if specific else COMMON, 1.0)
              for name, seed in zip(instructions, INSTRUCTION_SEEDS)),
            Region("shared", SHARED_SEED, COMMON, 1.0), Region("noise", (-6.0, -52.0, 28.0), None))


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and noise of the synthetic experiment. TR in s.

    ``noise_phi``: lag-1 autocorrelation of the AR(1) noise (each run and each test
    presentation starts afresh). ``ev_range``: (low, high) of the uniform draw of each signal
    voxel's explained variance: the fraction of a single presentation's variance that is the
    subject's true response. ``subject_share``: fraction of that response shared by all
    subjects; the rest is subject-specific (same space and layer, the subject's own weights).
    ``spatial_share``: fraction of each voxel's readout weights common to the voxels planted
    with the same space and layer (its region): 0, every voxel responds through its own
    weights; > 0, neighbouring voxels respond alike, as in cortex, so a parcel's mean keeps it.
    """

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
    noise_phi: float = 0.6
    ev_range: tuple[float, float] = (0.05, 0.15)
    subject_share: float = 0.7
    spatial_share: float = 0.0  # fraction of each voxel's readout common to its region's voxels
    instructions: tuple[str, ...] = ()  # instruction mode: these are the spaces (see the module docstring)
    instruction_specific: bool = True  # instruction mode: False plants no instruction-specific region (null)

    def __post_init__(self) -> None:
        if self.instructions:
            names = tuple(str(n) for n in self.instructions)
            object.__setattr__(self, "instructions", names)
            object.__setattr__(self, "spaces", names)
            object.__setattr__(self, "regions", instruction_regions(names, self.instruction_specific))
        if not 0 <= self.noise_phi < 1:
            raise ValueError(f"noise_phi must be in [0, 1), got {self.noise_phi}")
        lo, hi = self.ev_range
        if not 0 < lo <= hi < 1:
            raise ValueError(f"ev_range must satisfy 0 < low <= high < 1, got {self.ev_range}")
        if not 0 <= self.subject_share <= 1:
            raise ValueError(f"subject_share must be in [0, 1], got {self.subject_share}")
        if not 0 <= self.spatial_share < 1:
            raise ValueError(f"spatial_share must be in [0, 1), got {self.spatial_share}")
        if self.n_repeats < 1 or self.n_subjects < 1:
            raise ValueError(f"need n_repeats >= 1 and n_subjects >= 1, got {self.n_repeats}, {self.n_subjects}")


@dataclass(frozen=True, kw_only=True)
class SyntheticData(EncodingData):
    """An :class:`EncodingData` plus the planted truth: signal_test (n_subjects, n_test, n_vox)
    each subject's noiseless test response (unit variance over all TRs; 0 where there is no
    signal), signal_train (n_subjects, n_train, n_vox) the same for the training TRs (a
    presentation is ``sqrt(ev) * signal + sqrt(1 - ev) * noise``); true_space (n_vox,) index into spaces or -1 (no signal, or in instruction mode the
    common block that no instruction holds alone); true_layer (n_vox,) or -1; ev
    (n_vox,) explained variance of a single presentation; theoretical_r (n_vox,): r of a
    perfect model on the repeat-averaged test data."""

    signal_test: np.ndarray
    signal_train: np.ndarray
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


def ar1_noise(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    """Stationary unit-variance AR(1) noise along axis -2 of ``shape`` (..., n_trs, n_vox):
    x[0] ~ N(0, 1), x[t] = phi x[t - 1] + sqrt(1 - phi^2) e[t]."""
    from scipy.signal import lfilter

    e = rng.standard_normal(shape)
    if phi == 0:
        return e
    b0 = np.sqrt(1 - phi**2)
    e[..., 0, :] /= b0  # so that x[0] = e[0]
    return lfilter([b0], [1.0, -phi], e, axis=-2)


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


@functools.lru_cache(maxsize=1)
def _pial_coordinates() -> dict[str, np.ndarray]:
    """fsaverage5 pial vertex coordinates (mm) per hemisphere (read once per process)."""
    from nilearn.datasets import load_fsaverage

    parts = load_fsaverage("fsaverage5")["pial"].parts
    return {hemi: np.asarray(parts[hemi].coordinates) for hemi in ("left", "right")}


def region_vertices(cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """fsaverage5 vertex indices (n_vox,) and region index (n_vox,): for each region the
    ``vertices_per_region`` pial vertices nearest its seed, half per hemisphere."""
    pial = _pial_coordinates()
    per_hemi = max(cfg.vertices_per_region // 2, 1)
    vertices, labels, taken = [], [], set()
    for r, region in enumerate(cfg.regions):
        for h, (hemi, sign) in enumerate((("left", 1.0), ("right", -1.0))):
            seed = np.array(region.seed) * np.array([sign, 1.0, 1.0])
            dist = np.linalg.norm(pial[hemi] - seed, axis=1)
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
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(seed)
    n_train, n_test = cfg.n_runs * cfg.trs_per_run, cfg.n_test_trs
    n_all = n_train + n_test
    semantic = _ar1(rng, n_all, cfg.n_latent, 0.95)
    if cfg.instructions:
        if features:
            raise ValueError("instruction mode generates its own features; real features are not supported there")
        feats = _instruction_layers(rng, _ar1(rng, n_all, cfg.n_latent, 0.3), semantic, cfg)
    else:
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
    sources = (*cfg.spaces, COMMON) if cfg.instructions else cfg.spaces  # what drives a voxel
    source_of = {s: i for i, s in enumerate(sources)}
    source = np.array([source_of.get(cfg.regions[r].space, -1) for r in region])
    true_space = np.array([space_of.get(cfg.regions[r].space, -1) for r in region])
    true_layer = np.array([-1 if cfg.regions[r].space is None
                           else int(round(cfg.regions[r].depth * (_depth(cfg.regions[r].space) - 1)))
                           for r in region])
    lo, hi = cfg.ev_range
    drawn = rng.uniform(lo, hi, n_vox)
    ev = np.array([0.0 if cfg.regions[r].space is None else
                   drawn[v] if cfg.regions[r].ev is None else cfg.regions[r].ev
                   for v, r in enumerate(region)])
    signal = _planted_signal(rng, [feats[s] for s in sources], source, true_layer, cfg, n_all)  # (n_sub, n_all, n_vox)

    def noisy(sig: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.sqrt(ev) * sig + np.sqrt(1 - ev) * ar1_noise(rng, shape, cfg.noise_phi)

    n_sub, n_rep = cfg.n_subjects, cfg.n_repeats
    bold_train = np.stack([noisy(signal[s, :n_train].reshape(cfg.n_runs, cfg.trs_per_run, n_vox),
                                 (cfg.n_runs, cfg.trs_per_run, n_vox)).reshape(n_train, n_vox)
                           for s in range(n_sub)])
    bold_test = np.stack([noisy(signal[s, n_train:], (n_rep, n_test, n_vox)) for s in range(n_sub)])
    noise_var = (1 - ev) / n_rep
    theoretical_r = np.sqrt(ev / np.maximum(ev + noise_var, 1e-12))
    return SyntheticData(
        instructions=tuple(cfg.instructions),
        features_train={s: [f[:n_train] for f in feats[s]] for s in cfg.spaces},
        features_test={s: [f[n_train:] for f in feats[s]] for s in cfg.spaces},
        bold_train=bold_train.astype(np.float32), runs=np.repeat(np.arange(cfg.n_runs), cfg.trs_per_run),
        bold_test=bold_test.astype(np.float32), signal_test=signal[:, n_train:].astype(np.float32),
        signal_train=signal[:, :n_train].astype(np.float32),
        vertices=vertices, region=region, region_names=tuple(r.name for r in cfg.regions),
        spaces=tuple(cfg.spaces), true_space=true_space, true_layer=true_layer, ev=ev,
        theoretical_r=theoretical_r, tr=cfg.tr,
    )


def _instruction_layers(rng: np.random.Generator, sensory: np.ndarray, semantic: np.ndarray,
                        cfg: SyntheticConfig) -> dict[str, list[np.ndarray]]:
    """Instruction mode: per instruction, layers of [common block | instruction block]
    (n_trs, n_features); ``COMMON``: the common block alone. At depth d the common block mixes
    (1 - d) sensory + d semantic through weights every instruction shares; the instruction
    block mixes (1 - d) sensory + d the instruction's own latent through its own weights."""
    n_common = cfg.n_features // 2

    def block(mix: np.ndarray, width: int) -> np.ndarray:
        w = rng.standard_normal((mix.shape[1], width)) / np.sqrt(mix.shape[1])
        f = np.tanh(mix @ w * 1.5)
        return (f - f.mean(0)) / f.std(0)

    own = {name: _ar1(rng, len(sensory), cfg.n_latent, 0.95) for name in cfg.instructions}
    common, out = [], {name: [] for name in cfg.instructions}
    for layer in range(cfg.n_layers):
        d = layer / max(cfg.n_layers - 1, 1)
        common.append(block(np.concatenate([(1 - d) * sensory, d * semantic], axis=1), n_common))
        for name in cfg.instructions:
            specific = block(np.concatenate([(1 - d) * sensory, d * own[name]], axis=1), cfg.n_features - n_common)
            out[name].append(np.concatenate([common[-1], specific], axis=1))
    return out | {COMMON: common}


def _readout(rng: np.random.Generator, n_features: int, n_vox: int, spatial_share: float) -> np.ndarray:
    """(n_features, n_vox) readout weights; with ``spatial_share`` > 0 partly one readout
    common to the voxels (spatially smooth cortex). With 0 nothing else is drawn, so the
    default experiment is unchanged."""
    w = rng.standard_normal((n_features, n_vox))
    if spatial_share > 0:
        common = rng.standard_normal((n_features, 1))
        w = np.sqrt(spatial_share) * common + np.sqrt(1 - spatial_share) * w
    return w


def _planted_signal(rng: np.random.Generator, feats: list[list[np.ndarray]], true_space: np.ndarray,
                    true_layer: np.ndarray, cfg: SyntheticConfig, n_all: int) -> np.ndarray:
    """Each subject's noiseless response (n_subjects, n_all, n_vox), unit variance per signal
    voxel, 0 elsewhere: ``sqrt(share) * shared + sqrt(1 - share) * own``, each a random
    linear readout of the voxel's planted layer passed through the SPM HRF at ``hrf_lags``
    (so the planted model is exactly representable by an encoder with those FIR delays)."""
    from nilearn.glm.first_level import spm_hrf
    from scipy.signal import lfilter

    full = spm_hrf(cfg.tr, oversampling=1)
    hrf = np.zeros(max(cfg.hrf_lags) + 1)
    hrf[list(cfg.hrf_lags)] = full[list(cfg.hrf_lags)]
    n_sub, n_vox = cfg.n_subjects, true_space.size
    signal = np.zeros((n_sub, n_all, n_vox))

    def unit(x: np.ndarray) -> np.ndarray:
        return (x - x.mean(0)) / x.std(0)

    for space_i, layer in sorted({(int(a), int(b)) for a, b in zip(true_space, true_layer) if a >= 0}):
        vox = np.flatnonzero((true_space == space_i) & (true_layer == layer))
        x = feats[space_i][layer]  # (n_all, n_features)
        readouts = [lfilter(hrf, [1.0], x @ _readout(rng, x.shape[1], vox.size, cfg.spatial_share), axis=0)
                    for _ in range(n_sub + 1)]  # the shared one, then each subject's own
        shared = unit(readouts[0])
        for s in range(n_sub):
            mix = np.sqrt(cfg.subject_share) * shared + np.sqrt(1 - cfg.subject_share) * unit(readouts[s + 1])
            signal[s][:, vox] = unit(mix)
    return signal
