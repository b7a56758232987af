"""The builtin ShapesWorld models: trained once by SFT on Ray Train workers, then cached.

- `shapes-policy`: describes scenes, imperfectly *by learned bias*: its SFT captions now and
  then name an absent object that co-occurs with a present one (world.halluc_prob), the way
  detailed captions mention a fork beside every table. More SFT on such data keeps the bias;
  feedback from the image removes it, so the world tells alignment from more training.
- `shapes-labeler`: answers "Is there a <color> <shape> in the image?" from clean data.

Cache: `$RLAIFV_CACHE` (default ~/.cache/rlaifv) keyed by a hash of everything that shapes the
model, copied into the run's `base/policy` and `base/labeler`; `--retrain` ignores the cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from rlaifv.config import BUILTIN_PREFIX, Config
from rlaifv.config.schema import ModelSection

BUILTIN_DIRS = {"shapes-policy": "policy", "shapes-labeler": "labeler"}
# bump a model's version when the world, tokenizer or recipe code changes what it learns
CACHE_VERSIONS = {"shapes-policy": 1, "shapes-labeler": 3}
LABELER_KIND_WEIGHTS = {"partner": 1.0, "same_shape": 1.0, "same_color": 2.0, "random": 1.0}


def cache_root() -> Path:
    return Path(os.environ.get("RLAIFV_CACHE", Path.home() / ".cache" / "rlaifv"))


def resolve_model(cfg: Config, ref: str, run_dir: str | Path) -> str:
    """A model reference as an absolute path or a hub id; builtin names point into the run's `base/`."""
    if not ref.startswith(BUILTIN_PREFIX):
        return str(Path(ref).resolve()) if Path(ref).exists() else ref
    path = Path(run_dir).resolve() / "base" / BUILTIN_DIRS[ref[len(BUILTIN_PREFIX):]]
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{ref} is not trained in {path.parent}; run `rlaifv run --output {run_dir}` first")
    return str(path)


def _sections(cfg: Config) -> dict[str, ModelSection]:
    return {"shapes-policy": cfg.policy, "shapes-labeler": cfg.labeler}


def _cache_key(cfg: Config, name: str, sec: ModelSection) -> str:
    spec = {"v": CACHE_VERSIONS[name], "name": name, "world": dataclasses.asdict(cfg.world),
            "sft": dataclasses.asdict(sec.sft)}
    for option in ("add_layers", "clean_steps", "insert_steps"):
        if not spec["sft"][option]:
            spec["sft"].pop(option)  # keys of models cached before the option existed stay valid
    spec["world"].pop("eval_size")
    if spec["world"]["halluc_mode"] == "insert":
        spec["world"].pop("halluc_mode")  # the world before the option: its cached models stay valid
    if sec.sft.init == "policy":
        spec["init"] = _cache_key(cfg, "shapes-policy", cfg.policy)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _join_logs(parts: list[Path], out: Path) -> None:
    """One SFT log across stages, steps numbered on from stage to stage."""
    offset, lines = 0, []
    for part in parts:
        last = 0
        for line in part.read_text().splitlines():
            row = json.loads(line)
            if "step" in row:
                last = row["step"]
                row["step"] += offset
            lines.append(json.dumps(row))
        offset += last
    out.write_text("".join(line + "\n" for line in lines))


def sft_rows_for(cfg: Config, name: str, sec: ModelSection, *, stage: str = "sft"):
    """SFT examples {image, question, answer} of a builtin model (generated, deterministic).
    The policy's stages: "clean" captions without the annotation bias, "insert" ones biased the
    insert world's way, "sft" biased the way world.halluc_mode says."""
    from rlaifv.world.datasets import describe_rows, sft_rows, yesno_rows

    n, s, size = sec.sft.train_size, sec.sft.seed, cfg.world.image_size
    if name == "shapes-policy":
        prob = 0.0 if stage == "clean" else cfg.world.halluc_prob
        mode = "insert" if stage == "insert" else cfg.world.halluc_mode
        for r in sft_rows(n, s, prob, image_size=size, halluc_mode=mode):
            yield {"image": r["image"], "question": r["question"], "answer": r["caption"]}
        return
    f = sec.sft.yesno_fraction
    # same-colour negatives twice as often: the binding they test is the last skill to be learned
    yes = yesno_rows(n, s, image_size=size, kind_weights=LABELER_KIND_WEIGHTS)
    desc = describe_rows(n, s + 100_000, image_size=size)  # other images than the yes/no ones
    for i in range(n):  # spread the yes/no rows evenly so every batch mixes both skills
        r = next(yes) if int((i + 1) * f) > int(i * f) else next(desc)
        yield {"image": r["image"], "question": r["question"], "answer": r.get("answer") or r["caption"]}


def ensure_base_models(cfg: Config, run_dir: str | Path, *, retrain: bool = False) -> dict[str, str]:
    """Train (or reuse) every builtin model the config names; returns name -> run-local path."""
    from pipelines.train import TrainJob, fit
    from rlaifv.models.tiny import TinyVLMSpec, build_tiny_llava
    from rlaifv.world.datasets import write_parquet
    from rlaifv.world.scenes import GRID

    run_dir = Path(run_dir).resolve()
    paths = {}
    for name, sec in _sections(cfg).items():
        if sec.model != BUILTIN_PREFIX + name:
            continue
        dest = run_dir / "base" / BUILTIN_DIRS[name]
        cached = cache_root() / "builtin" / f"{name}-{_cache_key(cfg, name, sec)}"
        if retrain or not (cached / "model" / "config.json").exists():
            work = cached.with_name(cached.name + ".work")
            shutil.rmtree(work, ignore_errors=True)
            size = cfg.world.image_size  # one vision patch per grid cell (see rlaifv/world/scenes.py)
            if sec.sft.init == "policy":
                if "shapes-policy" not in paths:
                    raise ValueError(f"{name}: sft.init=policy needs policy.model=builtin:shapes-policy")
                init = Path(paths["shapes-policy"])
                if sec.sft.add_layers:
                    from rlaifv.models.grow import grow_checkpoint

                    init = grow_checkpoint(init, work / "init", sec.sft.add_layers)
            else:
                init = build_tiny_llava(work / "init", TinyVLMSpec(image_size=size, patch_size=size // GRID),
                                        seed=sec.sft.seed)
            stages = [(stage, steps, sft_rows_for(cfg, name, sec, stage=stage))
                      for stage, steps in (("clean", sec.sft.clean_steps), ("insert", sec.sft.insert_steps),
                                           ("sft", sec.sft.steps)) if steps]
            for stage, steps, rows in stages:
                write_parquet(rows, work / f"{stage}.parquet")
                job = TrainJob(objective="sft", init_model=str(init), data=str(work / f"{stage}.parquet"),
                               output_dir=str(work / stage), name=f"{stage}-{name}", steps=steps,
                               batch_size=sec.sft.batch_size, lr=sec.sft.lr, warmup_ratio=0.03, zero_stage=0,
                               dtype="float32", num_workers=cfg.train.num_workers, use_gpu=cfg.train.use_gpu,
                               cpus_per_worker=cfg.train.num_cpus_per_worker, report_every=100,
                               seed=sec.sft.seed)
                on = {"clean": " on clean captions", "insert": " on insert-world captions"}.get(stage, "")
                print(f"training builtin {name}: {steps} SFT steps{on} on Ray Train")
                fit(job, storage_path=str(work / "ray" / stage))
                init = work / stage / "model"
            _join_logs([work / stage / "train_log.jsonl" for stage, _, _ in stages], work / "train_log.jsonl")
            shutil.rmtree(cached, ignore_errors=True)
            cached.mkdir(parents=True)
            shutil.copytree(init, cached / "model")
            shutil.copy(work / "train_log.jsonl", cached / "train_log.jsonl")
            shutil.rmtree(work, ignore_errors=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(cached / "model", dest)
        shutil.copy(cached / "train_log.jsonl", dest / "sft_log.jsonl")
        paths[name] = str(dest)
    return paths
