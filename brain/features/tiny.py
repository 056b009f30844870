"""Tiny randomly initialised models of the supported families, written to a directory in
the layout of a real checkpoint (weights, config, tokenizer, preprocessing settings).

They need no download: the tests, the benchmark and offline smoke runs use them to
exercise exactly the code paths a real local model takes. Their features are noise.
"""

from __future__ import annotations

import json
from pathlib import Path

FAMILIES = ("llava_onevision", "qwen2_5_vl", "video_llava", "llava_next_video", "instructblipvideo", "qwen2_audio",
            "qwen2_5_omni", "whisper", "ast", "videomae")
VIDEO_FAMILIES = ("llava_onevision", "qwen2_5_vl", "video_llava", "llava_next_video", "instructblipvideo",
                  "qwen2_5_omni", "videomae")

_WORDS = ["describe", "the", "scene", "in", "this", "video", "audio", "clip", "one", "sentence", "what", "action", "is", "happening", "list", "main", "objects", "visible", "how", "many", "people", "are", "there", "distinct", "can", "you", "see", "emotion", "do", "express", "where", "does", "it", "take", "place", "sounds", "hear", "transcribe", "said", "speaker", "voice", "convey", "music", "summarise"]
_CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
         "{% if c['type'] == 'video' %}VIDEO\n{% elif c['type'] == 'audio' %}"
         "<|audio_bos|><|AUDIO|><|audio_eos|>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
         "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
_SPECIAL = ("<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "<video>", "<image>", "<|AUDIO|>",
            "<|audio_bos|>", "<|audio_eos|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>",
            "<|image_pad|>")
_VIDEO_PLACEHOLDER = {"llava_onevision": "<video>", "video_llava": "<video>", "llava_next_video": "<video>",
                      "qwen2_5_vl": "<|vision_start|><|video_pad|><|vision_end|>",
                      "qwen2_5_omni": "<|vision_bos|><|VIDEO|><|vision_eos|>"}
# Qwen2.5-Omni's own names for the vision markers and placeholders (appended after the
# shared ones, so the other tiny models keep their token ids).
_OMNI_SPECIAL = ("<|vision_bos|>", "<|vision_eos|>", "<|VIDEO|>", "<|IMAGE|>")


def _tokenizer(video_placeholder: str = "<video>", extra_special: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(_WORDS) | {"user", "assistant", "?", ".", ",", "'"})
    specials = (*_SPECIAL, *extra_special)
    vocab = {w: i for i, w in enumerate((*specials, *words))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>",
                                  eos_token="<|im_end|>")
    tok.add_special_tokens({"additional_special_tokens": list(specials[4:])})
    tok.chat_template = _CHAT.replace("VIDEO", video_placeholder)
    return tok, vocab


def _bert_tokenizer(directory: Path):
    """A BERT-style WordPiece tokenizer ([CLS] text [SEP]), like InstructBLIP's Q-Former tokenizer."""
    from transformers import BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(_WORDS)), "?", ".", ","]) + "\n")
    return BertTokenizer(vocab_file=str(vocab))


# CLIP's image normalisation and the tiny vision towers and video processors the families share
_CLIP_NORM = {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}
_CLIP_VISION = {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
                "projection_dim": 32}
_QWEN_VISION = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
                "fullatt_block_indexes": [1]}
_QWEN_PREP = {**_CLIP_NORM, "size": {"height": 56, "width": 56}, "num_frames": 4, "patch_size": 14,
              "temporal_patch_size": 2, "merge_size": 2, "video_processor_type": "Qwen2VLVideoProcessor"}


def _text_config(vocab_size: int, layers: int) -> dict:
    return dict(model_type="qwen2", hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                num_attention_heads=2, num_key_value_heads=1, vocab_size=vocab_size,
                max_position_embeddings=4096)


def write_tiny_model(family: str, directory: str | Path, n_layers: int = 3, seed: int = 0) -> Path:
    """Write a tiny random model of ``family`` (one of :data:`FAMILIES`) into ``directory``."""
    import torch
    import transformers as tf

    if family not in FAMILIES:
        raise ValueError(f"unknown tiny model family {family!r}; valid: {', '.join(FAMILIES)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if family == "llava_onevision":
        tok, vocab = _tokenizer(_VIDEO_PLACEHOLDER[family])
        cfg = tf.LlavaOnevisionConfig(
            vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                               num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
            text_config=_text_config(len(tok), n_layers), image_token_index=vocab["<image>"],
            video_token_index=vocab["<video>"], vision_feature_select_strategy="full",
            image_grid_pinpoints=[[32, 32]])
        model = tf.LlavaOnevisionForConditionalGeneration(cfg)
        prep = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
                "size": {"height": 32, "width": 32}, "num_frames": 4,
                "video_processor_type": "LlavaOnevisionVideoProcessor"}
        (out / "video_preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tok.save_pretrained(out)
    elif family == "video_llava":
        tok, vocab = _tokenizer(_VIDEO_PLACEHOLDER[family])
        cfg = tf.VideoLlavaConfig(
            vision_config=dict(_CLIP_VISION),
            text_config=_text_config(len(tok), n_layers), image_token_index=vocab["<image>"],
            video_token_index=vocab["<video>"])
        model = tf.VideoLlavaForConditionalGeneration(cfg)
        prep = {**_CLIP_NORM, "size": {"shortest_edge": 32},
                "num_frames": 4}
        (out / "preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tok.save_pretrained(out)
    elif family == "llava_next_video":
        tok, vocab = _tokenizer(_VIDEO_PLACEHOLDER[family])
        cfg = tf.LlavaNextVideoConfig(
            vision_config=dict(_CLIP_VISION),
            text_config=_text_config(len(tok), n_layers), image_token_index=vocab["<image>"],
            video_token_index=vocab["<video>"], image_grid_pinpoints=[[32, 32]], spatial_pool_stride=2)
        model = tf.LlavaNextVideoForConditionalGeneration(cfg)
        prep = {**_CLIP_NORM, "size": {"shortest_edge": 32},
                "crop_size": {"height": 32, "width": 32}, "num_frames": 4,
                "video_processor_type": "LlavaNextVideoVideoProcessor"}
        (out / "video_preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tok.save_pretrained(out)
    elif family == "instructblipvideo":
        # No chat template: InstructBLIP's processor puts the video tokens before the plain
        # instruction; the Q-Former reads the instruction with its own BERT tokenizer.
        tok, vocab = _tokenizer()
        tok.chat_template = None
        qformer_tok = _bert_tokenizer(out / "qformer_tokenizer")
        cfg = tf.InstructBlipVideoConfig(
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=8, initializer_range=0.02),  # default 1e-10: a dead tower
            qformer_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                vocab_size=len(qformer_tok), max_position_embeddings=64,
                                pad_token_id=qformer_tok.pad_token_id),
            text_config={**_text_config(len(tok), n_layers), "eos_token_id": vocab["<|im_end|>"]},
            num_query_tokens=4, video_token_index=vocab["<video>"])
        model = tf.InstructBlipVideoForConditionalGeneration(cfg)
        with torch.no_grad():  # initialised to zeros: every query would read the frames alike
            model.query_tokens.normal_(0.0, 0.02)
        prep = {**_CLIP_NORM, "size": {"height": 32, "width": 32},
                "video_processor_type": "InstructBlipVideoVideoProcessor"}
        (out / "video_preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tok.save_pretrained(out)
        qformer_tok.save_pretrained(out / "qformer_tokenizer")
    elif family == "qwen2_5_vl":
        tok, vocab = _tokenizer(_VIDEO_PLACEHOLDER[family])
        text = {**_text_config(len(tok), n_layers), "model_type": "qwen2_5_vl_text",
                "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
                "bos_token_id": None, "eos_token_id": vocab["<|im_end|>"]}
        cfg = tf.Qwen2_5_VLConfig(
            vision_config=dict(_QWEN_VISION),
            text_config=text, image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
            vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
        model = tf.Qwen2_5_VLForConditionalGeneration(cfg)
        prep = dict(_QWEN_PREP)
        (out / "video_preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tok.save_pretrained(out)
    elif family == "qwen2_5_omni":
        # The Thinker (text output) of Qwen2.5-Omni: a Qwen2.5-VL-style vision tower and a
        # Whisper-style audio tower feeding one language model.
        tok, vocab = _tokenizer(_VIDEO_PLACEHOLDER[family], _OMNI_SPECIAL)
        text = {**_text_config(len(tok), n_layers), "rope_parameters": {"rope_type": "default",
                "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}, "eos_token_id": vocab["<|im_end|>"]}
        text.pop("model_type")
        cfg = tf.Qwen2_5OmniThinkerConfig(
            audio_config=dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                              num_mel_bins=16, output_dim=32, n_window=50, max_source_positions=1500),
            vision_config=dict(_QWEN_VISION),
            text_config=text, audio_token_index=vocab["<|AUDIO|>"], image_token_index=vocab["<|IMAGE|>"],
            video_token_index=vocab["<|VIDEO|>"], audio_start_token_id=vocab["<|audio_bos|>"],
            audio_end_token_id=vocab["<|audio_eos|>"], vision_start_token_id=vocab["<|vision_bos|>"],
            vision_end_token_id=vocab["<|vision_eos|>"])
        model = tf.Qwen2_5OmniThinkerForConditionalGeneration(cfg)
        with torch.no_grad():  # at std 0.02 the sinusoidal positions drown the sound in the tiny audio tower
            for conv in (model.model.audio_tower.conv1, model.model.audio_tower.conv2):
                conv.weight.normal_(0.0, 0.3)
        prep = dict(_QWEN_PREP)
        (out / "video_preprocessor_config.json").write_text(json.dumps(prep, indent=2))
        tf.WhisperFeatureExtractor(feature_size=16).save_pretrained(out)
        tok.save_pretrained(out)
    elif family == "qwen2_audio":
        tok, vocab = _tokenizer()
        fe = tf.WhisperFeatureExtractor(feature_size=16)
        cfg = tf.Qwen2AudioConfig(
            audio_config=dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                              num_mel_bins=16),
            text_config=_text_config(len(tok), n_layers), audio_token_index=vocab["<|AUDIO|>"])
        model = tf.Qwen2AudioForConditionalGeneration(cfg)
        tf.Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok, chat_template=tok.chat_template).save_pretrained(out)
    elif family == "whisper":
        cfg = tf.WhisperConfig(d_model=32, encoder_layers=n_layers, decoder_layers=1,
                               encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                               decoder_ffn_dim=64, num_mel_bins=16, vocab_size=64,
                               pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
        model = tf.WhisperModel(cfg)
        tf.WhisperFeatureExtractor(feature_size=16).save_pretrained(out)
    elif family == "ast":
        # 16 mel bins x 320 frames (3.2 s): one frequency patch row, 31 time patches.
        cfg = tf.ASTConfig(hidden_size=32, num_hidden_layers=n_layers, num_attention_heads=2, intermediate_size=64,
                           patch_size=16, frequency_stride=10, time_stride=10, max_length=320, num_mel_bins=16)
        model = tf.ASTModel(cfg)
        tf.ASTFeatureExtractor(num_mel_bins=16, max_length=320).save_pretrained(out)
    else:
        cfg = tf.VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
                                num_hidden_layers=n_layers, num_attention_heads=2, intermediate_size=64)
        model = tf.VideoMAEModel(cfg)
        prep = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                "size": {"height": 32, "width": 32}, "num_frames": 4}
        (out / "preprocessor_config.json").write_text(json.dumps(prep, indent=2))
    model.eval().save_pretrained(out)
    return out
