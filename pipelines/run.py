"""`rlaifv run`: the main job. Base models -> rounds of (collect -> reference log-probs -> DPO ->
evaluate checkpoints -> best becomes the next policy) -> final model, metrics.json, report.

Layout of the run directory (every finished stage is skipped when the command is re-run):
  base/policy, base/labeler     builtin models (HF format)
  eval/{val,test}.parquet       held-out ShapesWorld splits (val picks checkpoints, test reports)
  round_k/collect/              candidates/, pairs_raw/, pairs.parquet, summary.json, rejects
  round_k/reference/            pairs with reference log-probs
  round_k/train/                train_log.jsonl, checkpoints/step_N (HF), model
  round_k/model                 the round's best checkpoint; round_k/metrics.json
  final/model, metrics.json, report.html
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from rlaifv.config import BUILTIN_PREFIX, Config


def plan(cfg: Config, out: str) -> str:
    p, lab, t, c = cfg.policy, cfg.labeler, cfg.train, cfg.collect
    lines = [
        f"run directory: {out}   rounds: {cfg.run.rounds}   ray: {cfg.ray.address or 'local cluster'}",
        f"models: policy={p.model} labeler={lab.model} reference={cfg.reference.model or 'round start policy'}",
        "stages:",
    ]
    if BUILTIN_PREFIX in p.model + lab.model:
        lines.append(f"  0. base models: SFT on Ray Train (policy {p.sft.steps} steps, labeler {lab.sft.steps} steps), cached")
    lines += [
        f"  1. collect: {c.instructions or f'{c.num_instructions} fresh ShapesWorld scenes'} x {c.num_samples} samples "
        f"(T={c.temperature}) | policy actors: {p.num_actors} x (CPU {p.num_cpus}, GPU {p.num_gpus}) [{p.backend}]",
        f"     divide: splitter={c.splitter} converter={c.converter} | labeler actors: {lab.num_actors} x "
        f"(CPU {lab.num_cpus}, GPU {lab.num_gpus}) [{lab.backend}]",
        f"     pairs: <= {c.pairs_per_instruction}/instruction, length balancing={c.length_balance}, "
        f"clean chosen={c.require_clean_chosen}, repeats rejected={c.repeat_as_rejected}",
        f"  2. reference log-probs: one Ray Data pass ({'precomputed' if t.precompute_reference else 'live'})",
        f"  3. DPO ({t.loss}, beta={t.beta}, lr={t.lr}, sft_weight={t.sft_weight}): Ray Train {t.num_workers} workers x "
        f"(CPU {t.num_cpus_per_worker}, GPU {1 if t.use_gpu else 0}), DeepSpeed ZeRO-{t.zero_stage} {t.dtype}, "
        f"{t.epochs} epochs, batch {t.batch_size}",
        f"  4. evaluate {t.epochs * t.checkpoints_per_epoch} checkpoints on val ({cfg.world.eval_size} scenes), "
        "best -> next round; test split for the reported numbers",
    ]
    return "\n".join(lines)


def _round_jobs(cfg: Config, rd: Path, policy: str, reference: str, labeler: str, k: int) -> list[str]:
    """Collect, reference log-probs and DPO for round k; returns the HF checkpoints."""
    from pipelines.collect import collect
    from pipelines.reference import add_reference_logps
    from pipelines.dpo_job import dpo_job
    from pipelines.train import fit
    from rlaifv.world.datasets import describe_rows

    world_rows = None
    if not cfg.collect.instructions:  # fresh scenes every round, never the eval seeds
        world_rows = describe_rows(cfg.collect.num_instructions, 1000 + 100 * cfg.run.seed + k,
                                   image_size=cfg.world.image_size)
    summary = collect(cfg, rd / "collect", policy_model=policy, labeler_model=labeler, seed=cfg.run.seed * 1000 + k,
                      source=cfg.collect.instructions, world_rows=world_rows)
    if summary["pairs"] < cfg.train.batch_size:
        # a policy that rarely hallucinates any more leaves too few pairs to train on: the round
        # keeps its start (recorded), rather than crash a run that has converged
        print(f"round {k}: only {summary['pairs']} pairs (< train.batch_size {cfg.train.batch_size}); "
              "no DPO this round, the starting policy carries on")
        return []
    pairs, live = rd / "collect" / "pairs.parquet", ""
    if cfg.train.precompute_reference:
        pairs = add_reference_logps(cfg, pairs, rd / "reference", reference)
    else:
        live = reference
    job = dpo_job(cfg, policy=policy, pairs=str(pairs), out_dir=rd / "train", name=f"dpo-round-{k}",
                  seed=cfg.run.seed + k, live_reference=live)
    if not (rd / "train" / "model" / "config.json").exists():
        fit(job, storage_path=str(rd / "ray"))
    ckpts = sorted((rd / "train" / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return [str(c) for c in ckpts]


def run(cfg: Config, out_dir: str | Path, *, retrain: bool = False) -> dict:
    from pipelines.base_models import ensure_base_models, resolve_model
    from pipelines.evaluate import eval_splits, evaluate_models, pick_best

    out = Path(out_dir).resolve()  # Ray workers run elsewhere: every path they get is absolute
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ensure_base_models(cfg, out, retrain=retrain)
    policy = resolve_model(cfg, cfg.policy.model, out)
    labeler = resolve_model(cfg, cfg.labeler.model, out)
    splits = eval_splits(cfg, out)
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {"rounds": []}
    if "base" not in metrics:
        metrics["base"] = {"test": evaluate_models(cfg, [policy], splits["test"])[0],
                           "val": evaluate_models(cfg, [policy], splits["val"])[0]}
        _save(metrics_path, metrics)
    _print_metrics("base", metrics["base"]["test"])
    for k in range(1, cfg.run.rounds + 1):
        rd = out / f"round_{k}"
        if (rd / "model" / "config.json").exists() and len(metrics["rounds"]) >= k:
            policy = str(rd / "model")
            continue
        t_round = time.time()
        reference = resolve_model(cfg, cfg.reference.model, out) if cfg.reference.model else policy
        ckpts = _round_jobs(cfg, rd, policy, reference, labeler, k)
        val = evaluate_models(cfg, ckpts, splits["val"]) if ckpts else []
        # the round's starting policy competes too: a round whose checkpoints all got worse on
        # val hands its starting policy on (and the next round collects fresh feedback)
        start_val = metrics["rounds"][-1]["val"] if metrics["rounds"] else metrics["base"]["val"]
        best = pick_best(val + [start_val], metrics["base"]["val"])
        kept_start = best == len(ckpts)
        chosen = policy if kept_start else ckpts[best]
        shutil.rmtree(rd / "model", ignore_errors=True)
        shutil.copytree(chosen, rd / "model")
        policy = str(rd / "model")
        test = evaluate_models(cfg, [policy], splits["test"])[0]
        summary = json.loads((rd / "collect" / "summary.json").read_text())
        entry = {"round": k, "checkpoint": "start" if kept_start else Path(chosen).name, "reference": reference,
                 "test": test, "val": (val + [start_val])[best],
                 "val_all": {Path(c).name: m for c, m in zip(ckpts, val)}, "collect": summary,
                 "seconds": round(time.time() - t_round, 1)}
        metrics["rounds"] = metrics["rounds"][: k - 1] + [entry]
        _save(metrics_path, metrics)
        _print_metrics(f"round {k}", test)
    if cfg.run.sft_control and cfg.policy.model == BUILTIN_PREFIX + "shapes-policy":
        from pipelines.control import sft_control

        metrics["control"] = sft_control(cfg, out, str(out / "base" / "policy"), splits["test"])
        _print_metrics("SFT control", metrics["control"]["test"])
    final = out / "final" / "model"
    shutil.rmtree(final, ignore_errors=True)
    shutil.copytree(policy, final)
    metrics["final_model"] = str(final)
    if cfg.eval.best_of_n_k and "best_of_n" not in metrics:
        metrics["best_of_n"] = _best_of_n(cfg, metrics, splits["test"], out / "final" / "best_of_n")
    metrics["seconds"] = round(time.time() - t0, 1)
    _save(metrics_path, metrics)
    _write_report(out)
    return metrics


def _best_of_n(cfg: Config, metrics: dict, test: str, out: Path) -> dict:
    """Best-of-N self-reward of the final model against the reference it was trained with."""
    from pipelines.best_of_n import evaluate_best_of_n, format_table

    trained = [r for r in metrics["rounds"] if r["checkpoint"] != "start"]
    if not trained:  # the final model is the base: there is no DPO reward to rank with
        print("best-of-N skipped: no round improved on its start, so the final model has no DPO reference")
        return {"skipped": "no trained round"}
    e = cfg.eval
    result = evaluate_best_of_n(str(out.parent / "model"), trained[-1]["reference"], test, output_dir=str(out),
                                k=e.best_of_n_k, beta=cfg.train.beta, temperature=e.temperature,
                                max_tokens=e.max_tokens, seed=cfg.run.seed, backend=cfg.policy.backend)
    print("best-of-N on the test split (self-reward vs other selectors):\n" + format_table(result["curve"]))
    return {"curve": result["curve"], "settings": result["settings"]}


def _save(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    tmp.replace(path)


def _print_metrics(name: str, m: dict) -> None:
    print(f"[{name}] hallucination {m['hallucination_rate']:.1%} | strict {m['strict_hallucination_rate']:.1%} | "
          f"coverage {m['coverage']:.1%} | repeats {m['repeat_rate']:.1%} | well-formed {m['well_formed_rate']:.1%} | "
          f"words {m['avg_words']:.1f}", flush=True)


def _write_report(out: Path) -> None:
    try:
        from pipelines.report import write_report
    except ImportError:  # the report lands with the evaluation issue
        return
    write_report(out)


def main(args) -> int:
    from pipelines.cluster import init_ray
    from rlaifv.config import load_config

    cfg = load_config(args.config, args.overrides)
    out = args.output or cfg.run.output
    print(plan(cfg, out))
    if args.dry_run:
        return 0
    init_ray(cfg)
    metrics = run(cfg, out, retrain=args.retrain)
    print(f"done in {metrics['seconds']:.0f} s: final model {metrics['final_model']}")
    return 0
