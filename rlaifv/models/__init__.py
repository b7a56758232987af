"""Tiny VLMs of real architectures, their tokenizer, chat format and checkpoints.

Submodules are imported on first use (`from rlaifv.models import build_tiny_llava` works),
so importing `rlaifv.models.chat` does not pull in every transformers model class.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_tokenizer": "tokenizer",
    "world_corpus": "tokenizer",
    "TinyVLMSpec": "tiny",
    "build_tiny_llava": "tiny",
    "build_tiny_qwen2vl": "tiny",
    "save_model": "checkpoint",
    "load_model": "checkpoint",
    "fix_llava_keys_for_vllm": "checkpoint",
    "add_decoder_layers": "grow",
    "grow_checkpoint": "grow",
    "prompt_text": "chat",
    "encode_example": "chat",
    "response_token_ids": "chat",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlaifv.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rlaifv.models.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
