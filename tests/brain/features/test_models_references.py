"""LLaVA-NeXT-Video, InstructBLIP-Video and AST against references built from transformers'
own pieces: its PIL image processors for the frames (its video processors need
torchvision), the token layout its processors make, its feature extractor for AST's
input (checked in turn against Kaldi's filter bank, computed here) and a plain forward
pass of the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from brain.features.models import _pixels, load_model  # noqa: E402

INSTRUCTION = "describe the scene"


def _video(fm, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (fm.n_frames, *fm.frame_size, 3), dtype=np.uint8)


def _reference_pixels(family: str, directory: Path, frames: np.ndarray) -> np.ndarray:
    """(frames, 3, H, W) from the PIL image processor that does what the family's video
    processor does to each frame (resize, [crop,] rescale, normalise)."""
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    prep = json.loads((directory / "video_preprocessor_config.json").read_text())
    h, w = frames.shape[1:3]
    norm = {"image_mean": prep["image_mean"], "image_std": prep["image_std"]}
    if family == "llava_next_video":  # LlavaNextVideoVideoProcessor: short side, centre crop
        processor = CLIPImageProcessorPil(size={"shortest_edge": min(h, w)}, crop_size={"height": h, "width": w},
                                          **norm)
    else:  # InstructBlipVideoVideoProcessor: resize to the square input
        processor = BlipImageProcessorPil(size={"height": h, "width": w}, **norm)
    return processor(images=list(frames), return_tensors="np")["pixel_values"]


def _reference_inputs(family: str, directory: Path, fm, frames: np.ndarray, instruction: str,
                      qformer_instruction: str | None = None) -> dict:
    """The model inputs as the family's transformers processor would build them."""
    tok = tf.AutoTokenizer.from_pretrained(directory)
    pixels = torch.from_numpy(_reference_pixels(family, directory, frames))[None]
    config = fm.model.config
    n_frames = frames.shape[0]
    if family == "llava_next_video":
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": instruction}]}]
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        vision = config.vision_config
        # LlavaNextVideoProcessor: patches per frame // 4 (2x2 average pooling) per frame.
        n_tokens = (frames.shape[1] // vision.patch_size) * (frames.shape[2] // vision.patch_size) // 4 * n_frames
        enc = tok(prompt.replace("<video>", "<video>" * n_tokens), return_tensors="pt", add_special_tokens=False)
        return {**enc, "pixel_values_videos": pixels}
    # InstructBlipVideoProcessor: the placeholders, then the tokenized instruction; the
    # Q-Former's tokenizer reads the instruction.
    video = tok("<video>" * config.num_query_tokens * n_frames, add_special_tokens=False)["input_ids"]
    text = tok(instruction)["input_ids"]
    ids = torch.tensor([video + text])
    qtok = tf.AutoTokenizer.from_pretrained(directory / "qformer_tokenizer")
    q = qtok(qformer_instruction or instruction, return_tensors="pt")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pixels,
            "qformer_input_ids": q["input_ids"], "qformer_attention_mask": q["attention_mask"]}


def _hidden(out) -> tuple:
    return out.hidden_states if getattr(out, "hidden_states", None) is not None else \
        out.language_model_outputs.hidden_states


@pytest.mark.parametrize("family", ["llava_next_video", "instructblipvideo"])
def test_frames_are_laid_out_as_transformers_image_processor_makes_them(tiny_dirs, family: str) -> None:
    fm = load_model(tiny_dirs[family], mode="prompt")
    assert fm.n_frames == 4 and fm.frame_size == (32, 32)
    frames = _video(fm)
    ref = _reference_pixels(family, tiny_dirs[family], frames)
    assert ref.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(_pixels(fm, [frames])[0].numpy(), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", ["llava_next_video", "instructblipvideo"])
def test_prompt_mode_is_the_mean_over_the_processor_built_prompt(tiny_dirs, family: str) -> None:
    """Per layer, the mean hidden state over the prompt the transformers processor would
    build (its token count and order, the image processor's pixels)."""
    fm = load_model(tiny_dirs[family], mode="prompt")
    frames = _video(fm, seed=1)
    inputs = _reference_inputs(family, tiny_dirs[family], fm, frames, INSTRUCTION)
    with torch.inference_mode():
        hidden = _hidden(fm.model(**inputs, output_hidden_states=True))
    expected = np.stack([h[0].mean(0).numpy() for h in hidden[1:]])
    np.testing.assert_allclose(fm.features([frames], INSTRUCTION)[0], expected, rtol=1e-4, atol=1e-5)


def test_instructblip_q_former_reads_the_instruction(tiny_dirs) -> None:
    """The same language-model prompt with the Q-Former given another instruction gives
    other features: the video tokens depend on the instruction, and ours on the right one."""
    fm = load_model(tiny_dirs["instructblipvideo"], mode="prompt")
    frames = _video(fm, seed=2)
    ours = fm.features([frames], INSTRUCTION)[0]
    other = _reference_inputs("instructblipvideo", tiny_dirs["instructblipvideo"], fm, frames, INSTRUCTION,
                              qformer_instruction="what sounds can you hear")
    with torch.inference_mode():
        hidden = _hidden(fm.model(**other, output_hidden_states=True))
    assert np.abs(np.stack([h[0].mean(0).numpy() for h in hidden[1:]]) - ours).max() > 1e-3


def test_instructblip_generate_mode_is_the_mean_over_answer_tokens(tiny_dirs) -> None:
    """InstructBLIP's generate runs its language model on embeddings and returns the prompt
    ids followed by the answer; features: mean over the answer up to the first end token."""
    fm = load_model(tiny_dirs["instructblipvideo"], max_new_tokens=4)
    frames = _video(fm, seed=3)
    inputs = _reference_inputs("instructblipvideo", tiny_dirs["instructblipvideo"], fm, frames, INSTRUCTION)
    model, tok = fm.model, fm.extras["tokenizer"]
    with torch.inference_mode():
        seq = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id,
                             suppress_tokens=[model.config.video_token_index])
        n = inputs["input_ids"].shape[1]
        assert torch.equal(seq[:, :n], inputs["input_ids"])
        answer = seq[0, n:].tolist()
        keep = answer[:answer.index(tok.eos_token_id) + 1] if tok.eos_token_id in answer else answer
        full = {**inputs, "input_ids": seq[:, :n + len(keep)],
                "attention_mask": torch.ones(1, n + len(keep), dtype=torch.long)}
        hidden = _hidden(model(**full, output_hidden_states=True))
    expected = np.stack([h[0, n:n + len(keep)].mean(0).numpy() for h in hidden[1:]])
    np.testing.assert_allclose(fm.features([frames], INSTRUCTION)[0], expected, rtol=1e-4, atol=1e-5)


def test_instructblip_checkpoints_load_as_instructblip_video(tiny_dirs, tmp_path: Path) -> None:
    """An InstructBLIP (image) checkpoint, as published, gives the same features as the
    same weights saved as InstructBLIP-Video: its image placeholder is the video one."""
    src = tiny_dirs["instructblipvideo"]
    dst = tmp_path / "instructblip"
    shutil.copytree(src, dst)
    c = json.loads((src / "config.json").read_text())
    tf.InstructBlipConfig(vision_config=c["vision_config"], qformer_config=c["qformer_config"],
                          text_config=c["text_config"], num_query_tokens=c["num_query_tokens"],
                          image_token_index=c["video_token_index"]).save_pretrained(dst)
    assert json.loads((dst / "config.json").read_text())["model_type"] == "instructblip"
    video, image = load_model(src, mode="prompt"), load_model(dst, mode="prompt")
    assert image.family == "instructblipvideo" and image.n_frames == 4
    frames = _video(video, seed=4)
    np.testing.assert_array_equal(image.features([frames], INSTRUCTION), video.features([frames], INSTRUCTION))
    shutil.rmtree(dst / "qformer_tokenizer")
    with pytest.raises(FileNotFoundError, match="qformer_tokenizer"):
        load_model(dst)


# ------------------------------------------------------------------------------ AST

def kaldi_fbank(wave: np.ndarray, n_mels: int, sr: int = 16000) -> np.ndarray:
    """Kaldi's log mel filter bank with the settings AST was trained on (what
    ``torchaudio.compliance.kaldi.fbank(window_type="hanning", num_mel_bins=n_mels)``
    computes): 25 ms frames every 10 ms (edges snipped), DC removed, pre-emphasis 0.97,
    symmetric Hann window, 512-point power spectrum, triangular filters evenly spaced on
    Kaldi's mel scale from 20 Hz to Nyquist (the Nyquist bin unused), natural log floored
    at float32 epsilon. (Checked once against kaldi-native-fbank, Kaldi's C++ port: equal
    to float32 precision.)"""
    wave = np.asarray(wave, np.float64)
    win, hop, nfft = sr // 40, sr // 100, 512
    n = 1 + (wave.size - win) // hop
    frames = np.stack([wave[i * hop:i * hop + win] for i in range(n)])
    frames = frames - frames.mean(1, keepdims=True)
    frames = frames - 0.97 * np.concatenate([frames[:, :1], frames[:, :-1]], 1)
    frames = frames * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1)))
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2

    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)

    lo, hi = mel(20.0), mel(sr / 2)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + np.arange(n_mels)[:, None] * delta
    m = mel(sr / nfft * np.arange(nfft // 2))[None]
    banks = np.maximum(0, np.minimum((m - left) / delta, (left + 2 * delta - m) / delta))
    banks = np.pad(banks, ((0, 0), (0, 1)))
    return np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))


def test_kaldi_reference_puts_a_tone_in_its_mel_band() -> None:
    t = np.arange(16000) / 16000
    fbank = kaldi_fbank(np.sin(2 * np.pi * 1000 * t), n_mels=64)
    assert fbank.shape == (98, 64)
    lo, hi = 1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 8000 / 700)
    centres = lo + (np.arange(64) + 1) * (hi - lo) / 65
    peak = np.bincount(fbank.argmax(1)).argmax()
    assert abs(peak - np.argmin(np.abs(centres - 1127 * np.log(1 + 1000 / 700)))) <= 1


@pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")
@pytest.mark.parametrize("n_mels, max_length", [(128, 1024), (16, 320)])
def test_ast_feature_extractor_gives_kaldi_fbank_without_torchaudio(n_mels: int, max_length: int) -> None:
    """transformers' ASTFeatureExtractor uses torchaudio's Kaldi fbank when torchaudio is
    installed, else its own numpy version: both must give Kaldi's filter bank, zero-padded
    to the model's input length, then (x - mean) / (2 std)."""
    fe = tf.ASTFeatureExtractor(num_mel_bins=n_mels, max_length=max_length)
    wave = (0.1 * np.random.default_rng(5).standard_normal(24000)).astype(np.float32)
    got = fe(wave, sampling_rate=16000, return_tensors="np")["input_values"][0]
    fbank = kaldi_fbank(wave, n_mels)
    expected = np.zeros((max_length, n_mels))
    expected[:len(fbank)] = fbank
    np.testing.assert_allclose(got, (expected - fe.mean) / (2 * fe.std), atol=1e-4)


def test_ast_features_are_per_layer_token_means_of_the_kaldi_input(tiny_dirs) -> None:
    fm = load_model(tiny_dirs["ast"])
    assert (fm.family, fm.modality, fm.instruction_tuned) == ("ast", "audio", False)
    prep = json.loads((tiny_dirs["ast"] / "preprocessor_config.json").read_text())
    rng = np.random.default_rng(6)
    clips = [(0.1 * rng.standard_normal(24000)).astype(np.float32) for _ in range(2)]
    x = np.zeros((2, prep["max_length"], prep["num_mel_bins"]), np.float32)
    for i, clip in enumerate(clips):
        fbank = kaldi_fbank(clip, prep["num_mel_bins"])
        x[i, :len(fbank)] = fbank
    x = (x - prep["mean"]) / (2 * prep["std"])
    with torch.inference_mode():
        hidden = fm.model(input_values=torch.from_numpy(x), output_hidden_states=True).hidden_states
    expected = torch.stack([h.mean(1) for h in hidden[1:]], dim=1).numpy()
    np.testing.assert_allclose(fm.features(clips), expected, rtol=1e-3, atol=1e-4)
    too_long = np.zeros(16000 * 4, np.float32)  # 3.2 s fit the tiny model's 320 frames
    with pytest.raises(ValueError, match="takes clips of up to 51440 samples"):
        fm.features([too_long])
