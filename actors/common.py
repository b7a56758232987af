"""Helpers shared by the Ray Data actor classes: batch <-> rows, images, engine options."""
from __future__ import annotations

import io
import os
from typing import Any

import pandas as pd
from PIL import Image


def decode_image(value: Any) -> Image.Image:
    if isinstance(value, dict):  # HF datasets' {"bytes", "path"} image struct
        value = value.get("bytes") or open(value["path"], "rb").read()
    return Image.open(io.BytesIO(value)).convert("RGB")


def engine_options(backend: str, dtype: str, max_model_len: int, batch_size: int, tensor_parallel_size: int = 1) -> dict:
    if backend == "vllm":
        return {"dtype": dtype, "max_model_len": max_model_len, "tensor_parallel_size": tensor_parallel_size}
    device = "cuda" if _has_cuda() else "cpu"
    return {"dtype": dtype, "device": device, "batch_size": batch_size}


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def set_actor_threads() -> None:
    """Ray sets OMP_NUM_THREADS from the actor's num_cpus; make torch honour it."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))


class EngineActor:
    """Base of the actor classes: one engine (vLLM or HF) per actor, CPU threads set from Ray."""

    def __init__(self, model: str, backend: str, dtype: str = "float32", max_model_len: int = 512,
                 batch_size: int = 64, tensor_parallel_size: int = 1):
        from rlaifv.engine import make_engine

        set_actor_threads()
        self.engine = make_engine(backend, model, **engine_options(backend, dtype, max_model_len, batch_size,
                                                                  tensor_parallel_size))


def to_list_column(values: list, index=None) -> pd.Series:
    """A pandas column of Python lists (Arrow turns it into a list<...> column), positional:
    it takes the index of the batch it is assigned to when given (else 0..n-1)."""
    s = pd.Series([None] * len(values), dtype=object, index=index)
    for i, v in enumerate(values):
        s.iat[i] = v
    return s
