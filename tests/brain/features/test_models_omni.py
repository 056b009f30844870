"""Qwen2.5-Omni (audio-visual): the video-with-audio token layout against transformers'
``Qwen2_5OmniProcessor`` (its own methods, on a processor assembled without its
torchvision-only video processor), features against a forward pass over the inputs the
processor builds, and the features' dependence on each stream."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from transformers.models.qwen2_5_omni.processing_qwen2_5_omni import Qwen2_5OmniProcessor  # noqa: E402

from brain.features.models import load_model, omni_av_tokens, omni_chunks, qwen_video_patches  # noqa: E402

INSTRUCTION = "describe the scene"
_TOKENS = {"bos": "<|audio_bos|>", "video": "<|VIDEO|>", "audio": "<|AUDIO|>", "eos": "<|audio_eos|>"}


pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


class _VideoProcessor(SimpleNamespace):
    """Stands in for the torchvision-only Qwen2-VL video processor: reports the frame grid
    of ``qwen_video_patches`` (checked against transformers' Qwen2-VL image processor in
    test_models)."""

    def __call__(self, videos, **kwargs):
        return {"video_grid_thw": [list(self.grid)]}


def _processor(directory=None) -> Qwen2_5OmniProcessor:
    """The real processor class and methods, assembled without its video processor."""
    p = object.__new__(Qwen2_5OmniProcessor)
    p.tokenizer = tf.AutoTokenizer.from_pretrained(directory) if directory is not None else None
    p.feature_extractor = (tf.WhisperFeatureExtractor.from_pretrained(directory) if directory is not None
                           else tf.WhisperFeatureExtractor(feature_size=16))
    p.video_token, p.audio_token, p.image_token = "<|VIDEO|>", "<|AUDIO|>", "<|IMAGE|>"
    p.audio_bos_token, p.audio_eos_token = "<|audio_bos|>", "<|audio_eos|>"
    p.vision_bos_token, p.vision_eos_token = "<|vision_bos|>", "<|vision_eos|>"
    return p


def _processor_block(p, grid, n_frames: int, clip_seconds: float, audio: np.ndarray) -> tuple[str, dict]:
    """What the processor puts in place of the video placeholder for a video of ``n_frames``
    frames spread over ``clip_seconds`` with its sound ``audio`` (load_audio_from_video),
    and its audio inputs."""
    processed_audio, _ = p._process_audio([audio], sampling_rate=16000, return_attention_mask=True,
                                          return_tensors="pt")
    p.video_processor = _VideoProcessor(merge_size=2, temporal_patch_size=2, grid=grid)
    fps = n_frames / clip_seconds
    processed, replacements = p._process_videos(
        [None], processed_audio=processed_audio, video_to_audio_indices=[0], load_audio_from_video=True,
        position_id_per_seconds=25, seconds_per_chunk=2.0, videos_kwargs={"fps": fps})
    return replacements[0], {**processed_audio, **processed}


@pytest.mark.parametrize("grid, n_frames, clip_seconds, n_samples", [
    ((2, 4, 4), 4, 1.5, 24000),     # one TR of 1.5 s, 4 frames
    ((4, 8, 6), 8, 3.0, 48000),     # 3 s of context, 8 frames
    ((5, 2, 2), 10, 10.0, 160000),  # 10 s: five chunks of each stream
    ((3, 2, 2), 3, 9.0, 144000),    # 6 s per temporal patch: the video skips chunks
    ((2, 2, 2), 4, 6.0, 17000),     # less sound than video: audio chunks run out first
])
def test_av_token_layout_is_the_processors(grid, n_frames: int, clip_seconds: float, n_samples: int) -> None:
    p = _processor()
    audio = (0.1 * np.random.default_rng(0).standard_normal(n_samples)).astype(np.float32)
    block, inputs = _processor_block(p, grid, n_frames, clip_seconds, audio)
    per_grid = 2 * clip_seconds / n_frames
    assert inputs["video_second_per_grid"] == [per_grid]
    fe = p.feature_extractor
    ours_features = fe([audio], sampling_rate=16000, padding="max_length", return_attention_mask=True,
                       return_tensors="pt")
    np.testing.assert_array_equal(ours_features["input_features"].numpy(), inputs["input_features"].numpy())
    n_frames_audio = int(ours_features["attention_mask"][0].sum())
    assert int(inputs["feature_attention_mask"][0].sum()) == n_frames_audio
    n_audio = ((n_frames_audio - 1) // 2 + 1 - 2) // 2 + 1
    assert int(inputs["num_audio_tokens"][0]) == n_audio
    labels = omni_av_tokens(grid, 2, per_grid, n_audio, 25, 2.0)
    assert "".join(_TOKENS[k] for k in labels) == block
    assert labels.count("video") == grid[0] * grid[1] * grid[2] // 4 and labels.count("audio") == n_audio


@pytest.mark.parametrize("values", [np.arange(130), np.repeat([0.0, 37.5, 75.0, 112.5], 6),
                                    np.repeat([0.0, 150.0, 300.0], 2), np.arange(0)])
def test_chunks_are_cut_as_the_processor_cuts_them(values) -> None:
    assert omni_chunks(values, 50) == _processor().get_chunked_index(values, 50)


def _reference_inputs(fm, directory, frames: np.ndarray, audio: np.ndarray, clip_seconds: float) -> dict:
    """The Thinker's inputs as the processor builds them (chat template, its placeholder
    block, its audio features), frames as Qwen-VL patches."""
    p = _processor(directory)
    vision = fm.model.config.vision_config
    mean = np.asarray(fm.extras["mean"], np.float32)
    std = np.asarray(fm.extras["std"], np.float32)
    pixels = ((frames.astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2)[None]
    flat, grid = qwen_video_patches(pixels, vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size)
    block, processed = _processor_block(p, grid, frames.shape[0], clip_seconds, audio)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": INSTRUCTION}]}]
    prompt = p.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    text, _ = p.get_text_with_replacements([prompt], [], [block], [])
    assert "<|vision_bos|><|audio_bos|><|VIDEO|>" in text[0] and "<|audio_eos|><|vision_eos|>" in text[0]
    enc = p.tokenizer(text, return_tensors="pt", add_special_tokens=False)
    return {**enc, "pixel_values_videos": torch.from_numpy(flat[0]), "video_grid_thw": torch.tensor([list(grid)]),
            "video_second_per_grid": torch.tensor(processed["video_second_per_grid"]),
            "input_features": processed["input_features"],
            "feature_attention_mask": processed["feature_attention_mask"], "use_audio_in_video": True}


def _clip(fm, seed: int, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (fm.n_frames, *fm.frame_size, 3), dtype=np.uint8)
    t = np.arange(round(seconds * fm.sampling_rate)) / fm.sampling_rate
    audio = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    return frames, audio.astype(np.float32)


def test_prompt_mode_is_the_mean_over_the_processor_built_prompt(tiny_dirs) -> None:
    fm = load_model(tiny_dirs["qwen2_5_omni"], mode="prompt")
    assert (fm.family, fm.modality, fm.instruction_tuned) == ("qwen2_5_omni", "audio-visual", True)
    frames, audio = _clip(fm, 1)
    inputs = _reference_inputs(fm, tiny_dirs["qwen2_5_omni"], frames, audio, 3.0)
    with torch.inference_mode():
        hidden = fm.model(**inputs, output_hidden_states=True).hidden_states
        positions, _ = fm.model.model.get_rope_index(
            inputs["input_ids"], None, inputs["video_grid_thw"], inputs["attention_mask"], True,
            inputs["feature_attention_mask"].sum(-1), inputs["video_second_per_grid"])
    expected = np.stack([h[0].mean(0).numpy() for h in hidden[1:]])
    np.testing.assert_allclose(fm.features([(frames, audio)], INSTRUCTION, clip_seconds=3.0)[0], expected,
                               rtol=1e-4, atol=1e-5)
    # The layout puts each stream's tokens in time order: temporal positions never go back
    # within a stream, and the chunks alternate video, audio.
    ids, t = inputs["input_ids"][0], positions[0, 0]
    for token in (fm.model.config.video_token_id, fm.model.config.audio_token_id):
        assert torch.all(torch.diff(t[ids == token]) >= 0)


def test_features_follow_each_stream(tiny_dirs) -> None:
    """Same frames with other sound, and same sound with other frames, change the
    features; the instruction changes them; repeated calls agree exactly."""
    fm = load_model(tiny_dirs["qwen2_5_omni"], max_new_tokens=3)
    (f0, a0), (f1, a1) = _clip(fm, 2), _clip(fm, 3)
    out = fm.features([(f0, a0), (f0, a1), (f1, a0)], INSTRUCTION, clip_seconds=3.0)
    assert out.shape == (3, fm.n_layers, fm.hidden_size) and np.all(np.isfinite(out))
    assert np.abs(out[0] - out[1]).max() > 1e-3  # the sound alone changed
    assert np.abs(out[0] - out[2]).max() > 1e-3  # the frames alone changed
    np.testing.assert_array_equal(out, fm.features([(f0, a0), (f0, a1), (f1, a0)], INSTRUCTION, clip_seconds=3.0))
    other = fm.features([(f0, a0)], "what sounds can you hear", clip_seconds=3.0)
    assert np.abs(other[0] - out[0]).max() > 1e-3


def test_audio_visual_clip_errors_are_clear(tiny_dirs) -> None:
    fm = load_model(tiny_dirs["qwen2_5_omni"], mode="prompt")
    frames, audio = _clip(fm, 4)
    with pytest.raises(ValueError, match="a clip is \\(frames, audio samples"):
        fm.features([frames], INSTRUCTION)
    with pytest.raises(ValueError, match="equal shapes"):
        fm.features([(frames, audio), (frames, audio[:100])], INSTRUCTION)
    with pytest.raises(ValueError, match="up to 30 s"):
        fm.features([(frames, np.zeros(16000 * 31, np.float32))], INSTRUCTION)
