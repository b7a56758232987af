"""Load a YAML config into the typed `Config`, apply `key.sub=value` overrides, validate.

Every problem is reported before any work starts, as one message per problem that names the
key and says what to do (unknown key -> the valid keys and the closest match).
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from rlaifv.config.schema import BUILTIN_PREFIX, Config


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found."""


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (pass --config with a YAML file, e.g. configs/shapes.yaml)")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections (run:, policy:, ...)")
    for item in overrides or []:
        _apply_override(raw, item)
    errors: list[str] = []
    cfg = _build(Config(), raw, "", errors)
    if not errors:
        errors.extend(semantic_errors(cfg))
    if errors:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{where}:\n" + "\n".join(f"  - {e}" for e in errors))
    return cfg


def _apply_override(raw: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value (e.g. train.beta=0.5)")
    key, _, value = item.partition("=")
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else None


def _build(base, raw: Any, prefix: str, errors: list[str]):
    """A copy of the dataclass instance `base` with the keys of `raw` applied (recursively)."""
    cls = type(base)
    if not isinstance(raw, dict):
        errors.append(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(raw).__name__}")
        return base
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{prefix}{key}: unknown key{hint}; valid keys: {', '.join(fields)}")
            continue
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(getattr(base, key), value if value is not None else {}, f"{prefix}{key}.", errors)
        else:
            kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}", errors)
    return dataclasses.replace(base, **{k: v for k, v in kwargs.items() if v is not _INVALID})


_INVALID = object()


_FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(tp, value: Any, key: str, errors: list[str]):
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key, errors)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            errors.append(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
            return _INVALID
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        # YAML 1.1 reads "5e-7" (no dot) as a string; users write lrs that way
        if isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - schema uses only the types above
        return value
    errors.append(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return _INVALID


def _model_ref_error(key: str, ref: str | None) -> str | None:
    """A model is a builtin name, a local directory, or a hub id ("org/name")."""
    if not ref:
        return f"{key}: required (a local model directory, a hub id like llava-hf/llava-1.5-7b-hf, or builtin:shapes-policy)"
    if ref.startswith(BUILTIN_PREFIX):
        if ref[len(BUILTIN_PREFIX):] not in ("shapes-policy", "shapes-labeler"):
            return f"{key}: unknown builtin model {ref!r}; use builtin:shapes-policy or builtin:shapes-labeler"
        return None
    looks_local = ref.startswith((".", "/", "~")) or os.sep in ref and ref.count("/") != 1 or Path(ref).exists()
    if looks_local and not (Path(ref).expanduser() / "config.json").is_file():
        return f"{key}: model directory {ref!r} not found or has no config.json"
    return None


def semantic_errors(cfg: Config) -> list[str]:
    """Checks that need more than one field: ranges, resources, model references."""
    errs: list[str] = []
    positive = {
        "run.rounds": cfg.run.rounds, "collect.num_instructions": cfg.collect.num_instructions,
        "collect.num_samples": cfg.collect.num_samples, "collect.max_tokens": cfg.collect.max_tokens,
        "collect.shard_size": cfg.collect.shard_size, "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size, "train.num_workers": cfg.train.num_workers,
        "world.image_size": cfg.world.image_size, "world.eval_size": cfg.world.eval_size,
        "policy.num_actors": cfg.policy.num_actors, "labeler.num_actors": cfg.labeler.num_actors,
        "serve.max_n": cfg.serve.max_n, "serve.port": cfg.serve.port,
        "policy.sft.steps": cfg.policy.sft.steps, "labeler.sft.steps": cfg.labeler.sft.steps,
    }
    errs += [f"{k}: must be >= 1, got {v}" for k, v in positive.items() if v < 1]
    for stage in ("clean_steps", "insert_steps"):
        if getattr(cfg.policy.sft, stage) < 0:
            errs.append(f"policy.sft.{stage}: must be >= 0, got {getattr(cfg.policy.sft, stage)}")
        if getattr(cfg.labeler.sft, stage):
            errs.append(f"labeler.sft.{stage}: only the policy has biased captions; set it to 0")
    if cfg.policy.sft.insert_steps and cfg.world.halluc_mode == "insert":
        errs.append("policy.sft.insert_steps: world.halluc_mode is insert already; add them to policy.sft.steps")
    if cfg.collect.num_samples < 2:
        errs.append("collect.num_samples: needs >= 2 candidates per instruction to form pairs")
    for k, v in {"world.cooccur_prob": cfg.world.cooccur_prob, "world.halluc_prob": cfg.world.halluc_prob,
                 "train.warmup_ratio": cfg.train.warmup_ratio, "collect.top_p": cfg.collect.top_p}.items():
        if not 0.0 <= v <= 1.0:
            errs.append(f"{k}: must be within [0, 1], got {v}")
    if cfg.train.zero_stage not in (0, 1, 2, 3):
        errs.append(f"train.zero_stage: must be 0, 1, 2 or 3, got {cfg.train.zero_stage}")
    if cfg.train.beta <= 0 or cfg.train.lr <= 0:
        errs.append("train.beta and train.lr: must be > 0")
    if cfg.serve.default_n > cfg.serve.max_n:
        errs.append(f"serve.default_n ({cfg.serve.default_n}) exceeds serve.max_n ({cfg.serve.max_n})")
    if cfg.collect.splitter == "llm" or cfg.collect.converter == "llm":
        if not cfg.collect.splitter_model:
            errs.append("collect.splitter_model: required when collect.splitter or collect.converter is 'llm'")
    for key, ref in (("policy.model", cfg.policy.model), ("labeler.model", cfg.labeler.model),
                     ("reference.model", cfg.reference.model), ("collect.splitter_model", cfg.collect.splitter_model)):
        if ref is None and key in ("reference.model", "collect.splitter_model"):
            continue
        if (err := _model_ref_error(key, ref)) is not None:
            errs.append(err)
    if not 0 <= cfg.eval.best_of_n_k <= cfg.serve.max_n:
        errs.append(f"eval.best_of_n_k: must be within [0, serve.max_n={cfg.serve.max_n}] (0 = off), "
                    f"got {cfg.eval.best_of_n_k}")
    for name, sec in (("policy", cfg.policy), ("labeler", cfg.labeler)):
        if sec.sft.add_layers < 0:
            errs.append(f"{name}.sft.add_layers: must be >= 0, got {sec.sft.add_layers}")
        elif sec.sft.add_layers and sec.sft.init != "policy":
            errs.append(f"{name}.sft.add_layers: only grows a trained model; set {name}.sft.init=policy "
                        f"or {name}.sft.add_layers=0")
    if cfg.collect.instructions and not Path(cfg.collect.instructions).is_file():
        errs.append(f"collect.instructions: file {cfg.collect.instructions!r} not found")
    errs += resource_errors(cfg)
    return errs


def resource_errors(cfg: Config) -> list[str]:
    """Resources a local cluster can never provide (a remote cluster is checked by Ray itself)."""
    if cfg.ray.address is not None:
        return []
    errs = []
    cpus = cfg.ray.num_cpus or os.cpu_count() or 1
    for name, sec in (("policy", cfg.policy), ("labeler", cfg.labeler)):
        if sec.num_cpus * sec.num_actors > cpus:
            errs.append(f"{name}: num_actors x num_cpus = {sec.num_actors * sec.num_cpus} CPUs but the local "
                        f"cluster has {cpus}; lower {name}.num_cpus (fractions like 0.5 are fine)")
        if sec.num_cpus * sec.num_actors >= cpus:
            errs.append(f"{name}: actors would hold every CPU ({cpus}) and Ray Data would deadlock; "
                        f"use fractional {name}.num_cpus")
    if cfg.train.num_workers * cfg.train.num_cpus_per_worker >= cpus:
        errs.append(f"train: num_workers x num_cpus_per_worker = "
                    f"{cfg.train.num_workers * cfg.train.num_cpus_per_worker} must stay below the local "
                    f"cluster's {cpus} CPUs (leave room for the data pipeline)")
    if (cfg.train.use_gpu or cfg.policy.num_gpus or cfg.labeler.num_gpus) and not _local_gpu_count():
        errs.append("GPUs requested (train.use_gpu / *.num_gpus) but this machine has none: set ray.address "
                    "to a GPU cluster, or train.use_gpu=false policy.num_gpus=0 labeler.num_gpus=0")
    return errs


def _local_gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # pragma: no cover
        return 0
