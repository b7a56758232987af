"""Save and load model directories that transformers, vLLM and DeepSpeed all accept.

Why a key fix: transformers 5.x saves a LLaVA CLIP tower as `vision_tower.embeddings...`,
while vLLM 0.32 looks for `vision_tower.vision_model.embeddings...` (the transformers 4.x
layout). transformers 5 still loads the 4.x layout (its key-conversion mapping), so we rewrite
the safetensors once after every save and both libraries read the same file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_VISION_PREFIX = "vision_tower."
_VLLM_VISION_PREFIX = "vision_tower.vision_model."


def _model_type(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return config.get("model_type", "")


def fix_llava_keys_for_vllm(model_dir: str | Path) -> int:
    """Rename `vision_tower.X` to `vision_tower.vision_model.X` in every safetensors shard
    of a LLaVA directory (no-op for other models or already-fixed files). Returns the count."""
    model_dir = Path(model_dir)
    if _model_type(model_dir) != "llava":
        return 0
    renamed = 0
    weight_map: dict[str, str] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        tensors = load_file(shard)
        fixed: dict[str, torch.Tensor] = {}
        for key, tensor in tensors.items():
            if key.startswith(_VISION_PREFIX) and not key.startswith(_VLLM_VISION_PREFIX):
                key = _VLLM_VISION_PREFIX + key[len(_VISION_PREFIX):]
                renamed += 1
            fixed[key] = tensor.contiguous()
            weight_map[key] = shard.name
        if len(fixed) != len(tensors):
            raise ValueError(f"fix_llava_keys_for_vllm: key clash after renaming in {shard}")
        if renamed:
            save_file(fixed, shard, metadata={"format": "pt"})
    index = model_dir / "model.safetensors.index.json"
    if renamed and index.exists():
        data = json.loads(index.read_text())
        data["weight_map"] = dict(sorted(weight_map.items()))
        index.write_text(json.dumps(data, indent=2))
    return renamed


def save_model(model: Any, processor: Any, out_dir: str | Path) -> Path:
    """save_pretrained (safetensors) model + processor, then make the weights vLLM-readable.

    Use this after training too: every directory the pipeline hands to vLLM must pass here.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    fix_llava_keys_for_vllm(out)
    return out


def load_model(path: str | Path, dtype: torch.dtype | str = torch.float32) -> tuple[Any, Any]:
    """(model in eval mode, processor) from a directory written by `save_model`."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"load_model: no config.json in {path}")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    processor = AutoProcessor.from_pretrained(path)
    return model.eval(), processor
