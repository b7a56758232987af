"""Generation/scoring engines behind one interface (`base.Engine`); pick a backend by name.

Backends import lazily: `import rlaifv.engine` loads neither transformers models nor vLLM.
"""
from __future__ import annotations

from typing import Any

from rlaifv.engine.base import Completion, Engine, Prompt, SamplingSpec

BACKENDS = ("hf", "vllm")


def make_engine(backend: str, model_path: str, **opts: Any) -> Engine:
    """An engine for `model_path`: "hf" -> HFEngine(**opts), "vllm" -> VLLMEngine(**opts)."""
    if backend == "hf":
        from rlaifv.engine.hf import HFEngine

        return HFEngine(str(model_path), **opts)
    if backend == "vllm":
        from rlaifv.engine.vllm_backend import VLLMEngine

        return VLLMEngine(str(model_path), **opts)
    raise ValueError(f"make_engine: unknown backend {backend!r}; choose one of {BACKENDS}")


__all__ = ["BACKENDS", "Completion", "Engine", "Prompt", "SamplingSpec", "make_engine"]
