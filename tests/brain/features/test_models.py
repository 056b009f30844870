"""Feature models of every family, on tiny random models built from transformers configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from brain.features.models import _answer_mask, load_model, qwen_video_patches

INSTRUCTED = ("llava_onevision", "qwen2_5_vl", "video_llava", "llava_next_video", "instructblipvideo", "qwen2_audio",
              "qwen2_5_omni")


def _clips(fm, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if fm.modality == "video":
        return [rng.integers(0, 256, (fm.n_frames, *fm.frame_size, 3), dtype=np.uint8) for _ in range(n)]
    if fm.modality == "audio-visual":  # (frames, sound of the same window)
        return [(rng.integers(0, 256, (fm.n_frames, *fm.frame_size, 3), dtype=np.uint8),
                 (0.1 * rng.standard_normal(int(1.5 * fm.sampling_rate))).astype(np.float32)) for _ in range(n)]
    return [(0.1 * rng.standard_normal(int(1.5 * fm.sampling_rate))).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("family", [*INSTRUCTED, "whisper", "ast", "videomae"])
def test_one_row_per_layer_and_batches_agree(tiny_dirs, family: str) -> None:
    fm = load_model(tiny_dirs[family], max_new_tokens=3, window_seconds=1.5)
    config = fm.model.config
    text = getattr(config, "text_config", None)
    expected = (text.num_hidden_layers if text is not None else
                getattr(config, "encoder_layers", None) or config.num_hidden_layers)
    clips = _clips(fm, 3)
    instruction = "describe the scene" if fm.instruction_tuned else None
    out = fm.features(clips, instruction)
    assert out.shape == (3, expected, fm.hidden_size) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert not np.allclose(out[0], out[1])  # different clips, different features
    np.testing.assert_allclose(fm.features(clips[1:2], instruction)[0], out[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", INSTRUCTED)
@pytest.mark.parametrize("mode", ["generate", "prompt"])
def test_features_change_with_the_instruction(tiny_dirs, family: str, mode: str) -> None:
    fm = load_model(tiny_dirs[family], mode=mode, max_new_tokens=3)
    clips = _clips(fm, 2)
    a = fm.features(clips, "describe the scene")
    b = fm.features(clips, "what sounds can you hear")
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_array_equal(a, fm.features(clips, "describe the scene"))  # deterministic


def test_generate_mode_is_the_mean_over_answer_tokens(tiny_dirs) -> None:
    """Reference by hand: greedy answer, then per layer the mean of the hidden states at the
    answer positions, up to and including the first end token."""
    fm = load_model(tiny_dirs["qwen2_audio"], max_new_tokens=4)
    clip = _clips(fm, 1)
    processor, model = fm.extras["processor"], fm.model
    messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "describe the sound"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], audio=clip, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        seq = model.generate(**inputs, max_new_tokens=4, do_sample=False,
                             pad_token_id=processor.tokenizer.pad_token_id,
                             suppress_tokens=[model.config.audio_token_id])  # no placeholder in answers
        n = inputs["input_ids"].shape[1]
        answer = seq[0, n:].tolist()
        eos = processor.tokenizer.eos_token_id
        keep = answer[:answer.index(eos) + 1] if eos in answer else answer
        full = {**inputs, "input_ids": seq[:, :n + len(keep)],
                "attention_mask": torch.ones(1, n + len(keep), dtype=torch.long)}
        hidden = model(**full, output_hidden_states=True).hidden_states
    expected = np.stack([h[0, n:n + len(keep)].mean(0).numpy() for h in hidden[1:]])
    np.testing.assert_allclose(fm.features(clip, "describe the sound")[0], expected, rtol=1e-4, atol=1e-5)


def test_answer_mask_stops_after_the_first_end_token() -> None:
    generated = torch.tensor([[5, 6, 2, 0, 0], [5, 2, 2, 7, 0], [5, 6, 7, 8, 9]])
    mask = _answer_mask(generated, [2])
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]


def test_instruction_misuse_and_bad_clips_are_clear_errors(tiny_dirs) -> None:
    tuned = load_model(tiny_dirs["llava_onevision"], max_new_tokens=2)
    plain = load_model(tiny_dirs["whisper"])
    with pytest.raises(ValueError, match="instruction-tuned"):
        tuned.features(_clips(tuned, 1), None)
    with pytest.raises(ValueError, match="takes no instruction"):
        plain.features(_clips(plain, 1), "describe")
    with pytest.raises(ValueError, match="takes clips of shape"):
        tuned.features([np.zeros((2, 8, 8, 3), np.uint8)], "describe")
    with pytest.raises(ValueError, match="equal shapes"):
        plain.features([np.zeros(1600, np.float32), np.zeros(800, np.float32)])


def test_model_directory_problems_are_named(tiny_dirs, tmp_path: Path) -> None:
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_dirs["whisper"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_model(no_weights)
    with pytest.raises(FileNotFoundError, match="not a directory and not a preset"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path / "empty")
    odd = tmp_path / "odd"
    shutil.copytree(tiny_dirs["whisper"], odd)
    (odd / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="not supported"):
        load_model(odd)
    with pytest.raises(ValueError, match="unknown mode"):
        load_model(tiny_dirs["whisper"], mode="dream")


def test_qwen_video_patches_match_the_transformers_image_processor() -> None:
    """A still image as a 2-frame video must give exactly the patches transformers' Qwen2-VL
    image processor makes of the image (it repeats an image over the temporal patch)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    image = np.random.default_rng(3).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 84)
    ref = processor(images=[image], return_tensors="np")
    mean = np.asarray(processor.image_mean, np.float32)[:, None, None]
    std = np.asarray(processor.image_std, np.float32)[:, None, None]
    frame = (image.transpose(2, 0, 1).astype(np.float32) / 255.0 - mean) / std
    flat, grid = qwen_video_patches(np.stack([frame, frame])[None], patch=14, merge=2, temporal=2)
    assert grid == tuple(ref["image_grid_thw"][0]) == (1, 4, 6)
    np.testing.assert_allclose(flat[0], ref["pixel_values"], rtol=1e-5, atol=1e-5)
    odd, grid_odd = qwen_video_patches(np.stack([frame, frame, frame])[None], patch=14, merge=2, temporal=2)
    assert grid_odd == (2, 4, 6)  # an odd frame count is padded by repeating the last frame
    np.testing.assert_array_equal(odd[0, :24], flat[0])
