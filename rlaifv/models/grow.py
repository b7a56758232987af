"""Deepen a trained decoder by appending layers that start as the identity.

Why: the builtin labeler starts from the trained policy (its vision tower already sees
shapes and colours) but must answer "Is there a red square?" when only a red circle is
there, a colour AND shape binding that 2 decoder layers learned poorly in trials (the
labeler answered "yes" whenever the colour was present). Extra layers give the lookup room;
zero-initialised output projections make the grown model compute exactly what the policy
did, so fine-tuning starts from its skills instead of from noise.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch


def add_decoder_layers(model, extra: int):
    """Append `extra` copies of the last decoder layer with zeroed attention-output and MLP
    down projections (each new layer adds 0 to the residual stream); returns the model."""
    if extra < 0:
        raise ValueError(f"add_decoder_layers: extra must be >= 0, got {extra}")
    lm = model.model.language_model
    text_config = model.config.text_config
    for _ in range(extra):
        layer = copy.deepcopy(lm.layers[-1])
        torch.nn.init.zeros_(layer.self_attn.o_proj.weight)
        torch.nn.init.zeros_(layer.mlp.down_proj.weight)
        layer.self_attn.layer_idx = len(lm.layers)  # the KV cache is indexed by layer
        lm.layers.append(layer)
    if getattr(text_config, "layer_types", None):
        text_config.layer_types = list(text_config.layer_types) + [text_config.layer_types[-1]] * extra
    text_config.num_hidden_layers = len(lm.layers)
    return model


def grow_checkpoint(src: str | Path, dst: str | Path, extra: int) -> Path:
    """Load a saved model, add `extra` identity-initialised decoder layers, save it to `dst`."""
    from rlaifv.models.checkpoint import load_model, save_model

    model, processor = load_model(src)
    return save_model(add_decoder_layers(model, extra), processor, dst)
