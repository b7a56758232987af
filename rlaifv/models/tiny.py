"""Tiny VLMs of real architectures, built locally (no hub access) and saved as real checkpoints.

Why real architectures: the same directory then loads in transformers
(AutoModelForImageTextToText / AutoProcessor), vLLM and DeepSpeed, so every stage of the
pipeline runs its production code path, only on a model small enough for 2 CPU cores.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from rlaifv.models.chat import LLAVA_PLACEHOLDER, QWEN2VL_PLACEHOLDER, chat_template
from rlaifv.models.checkpoint import save_model
from rlaifv.models.tokenizer import build_tokenizer

QWEN2VL_SPECIAL_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


@dataclass(frozen=True)
class TinyVLMSpec:
    """Sizes of the tiny LLaVA (CLIP vision tower + Llama decoder); ~0.8M parameters by default."""

    image_size: int = 48
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    intermediate: int = 512
    max_position: int = 512

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"TinyVLMSpec: image_size={self.image_size} not a multiple of patch_size={self.patch_size}")
        for hidden, heads, name in ((self.vision_hidden, self.vision_heads, "vision"), (self.text_hidden, self.text_heads, "text")):
            if hidden % heads:
                raise ValueError(f"TinyVLMSpec: {name}_hidden={hidden} not divisible by {name}_heads={heads}")

    @property
    def image_tokens(self) -> int:
        """Image tokens per image in the LLM sequence (patches; the CLS token is dropped)."""
        return (self.image_size // self.patch_size) ** 2


def _generation_config(tokenizer: PreTrainedTokenizerFast) -> GenerationConfig:
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_llava(
    out_dir: str | Path,
    spec: TinyVLMSpec = TinyVLMSpec(),
    tokenizer: PreTrainedTokenizerFast | None = None,
    seed: int = 0,
) -> Path:
    """Randomly initialised (seeded) LlavaForConditionalGeneration + LlavaProcessor, saved fp32."""
    tokenizer = tokenizer or build_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(LLAVA_PLACEHOLDER)
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=4 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        max_position_embeddings=spec.max_position,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=spec.image_tokens,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,  # the last CLIP layer (LLaVA-1.5 uses -2; here every layer trains)
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).to(torch.float32)
    model.generation_config = _generation_config(tokenizer)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
    )
    template = chat_template(LLAVA_PLACEHOLDER)
    tokenizer.chat_template = template
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
        image_token=LLAVA_PLACEHOLDER,
    )
    return save_model(model, processor, out_dir)


def build_tiny_qwen2vl(out_dir: str | Path, seed: int = 0) -> Path:
    """Randomly initialised (seeded) tiny Qwen2VLForConditionalGeneration + processor, saved fp32.

    Images are resized to multiples of 28 px between 56x56 and 112x112 pixels, so a 48x48
    image becomes 56x56 = 4x4 patches of 14 px = 4 LLM tokens after the 2x2 merge.
    """
    tokenizer = build_tokenizer(extra_special_tokens=QWEN2VL_SPECIAL_TOKENS, image_token="<|image_pad|>")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN2VL_SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=128,
            intermediate_size=512,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=2, embed_dim=64, hidden_size=128, num_heads=4, mlp_ratio=4,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32)
    model.generation_config = _generation_config(tokenizer)
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112},
        patch_size=14, temporal_patch_size=2, merge_size=2,
    )
    template = chat_template(QWEN2VL_PLACEHOLDER)
    tokenizer.chat_template = template
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112},
        patch_size=14, temporal_patch_size=2, merge_size=2,
    )
    processor = Qwen2VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor, chat_template=template
    )
    return save_model(model, processor, out_dir)
