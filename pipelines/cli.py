"""`rlaifv` command line: one entry point, one subcommand per stage of the method."""
from __future__ import annotations

import argparse
import json
import sys


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="configs/shapes.yaml", help="YAML config (default: %(default)s)")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, e.g. train.beta=0.5")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rlaifv", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="the whole RLAIF-V loop: base models, rounds of collect -> DPO -> eval")
    _add_config_args(p)
    p.add_argument("--output", help="run directory (default: run.output)")
    p.add_argument("--dry-run", action="store_true", help="validate the config and print the plan")
    p.add_argument("--retrain", action="store_true", help="retrain the cached builtin base models")

    p = sub.add_parser("data", help="make datasets")
    dsub = p.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("shapes", help="ShapesWorld instructions as parquet")
    s.add_argument("--num", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--output", required=True)
    s.add_argument("--kind", choices=["describe", "yesno"], default="describe")
    s.add_argument("--image-size", type=int, default=64)

    p = sub.add_parser("generate", help="sample responses from a model for every row of a parquet")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf")

    p = sub.add_parser("eval", help="hallucination metrics of a model (or of responses) on a dataset")
    p.add_argument("--model", help="model directory (omit with --responses)")
    p.add_argument("--data", help="ShapesWorld parquet with ground-truth objects")
    p.add_argument("--responses", help="parquet/jsonl of responses to score instead of a model")
    p.add_argument("--format", choices=["shapes", "objhal", "amber"], default="shapes")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    p.add_argument("--output", help="write the metrics JSON here too")

    p = sub.add_parser("bestofn", help="offline best-of-N self-reward: hallucination of the picks vs N")
    p.add_argument("--model", required=True, help="aligned (policy) model directory")
    p.add_argument("--reference", required=True, help="its reference model directory")
    p.add_argument("--data", required=True, help="ShapesWorld describe parquet (ground-truth objects)")
    p.add_argument("--output", required=True, help="directory for best_of_n.json/.png, candidates.jsonl")
    p.add_argument("--k", type=int, default=32, help="candidates sampled per prompt")
    p.add_argument("--ns", type=_int_list, default=None,
                   help="comma-separated N's, each <= k (default: 1,2,4,8,16,32 up to k)")
    p.add_argument("--beta", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf")

    p = sub.add_parser("collect", help="feedback collection on Ray Data: candidates, labels, pairs")
    _add_config_args(p)
    p.add_argument("--input", help="instructions parquet/jsonl (default: collect.instructions or ShapesWorld)")
    p.add_argument("--output", required=True)

    p = sub.add_parser("train", help="DPO on Ray Train + DeepSpeed from a pairs parquet")
    _add_config_args(p)
    p.add_argument("--pairs", required=True, help="pairs parquet (rlaifv, RLAIF-V-Dataset or RLHF-V-Dataset layout)")
    p.add_argument("--output", required=True)

    p = sub.add_parser("serve", help="best-of-N self-reward endpoint on Ray Serve")
    _add_config_args(p)
    p.add_argument("--model", help="aligned model directory")
    p.add_argument("--reference", help="reference model directory (default: reference.model or RUN/base/policy)")

    p = sub.add_parser("report", help="write DIR/report.html for a run directory")
    p.add_argument("run_dir")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rlaifv.config import ConfigError

    try:
        return int(_dispatch(args) or 0)
    except ConfigError as exc:
        print(f"rlaifv: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"rlaifv {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int | None:
    if args.command == "data":
        from pipelines.commands import data_shapes

        return data_shapes(args)
    if args.command == "generate":
        from pipelines.commands import generate

        return generate(args)
    if args.command == "eval":
        from pipelines.commands import evaluate

        return evaluate(args)
    if args.command == "bestofn":
        from pipelines.best_of_n import main as best_of_n_main

        return best_of_n_main(args)
    if args.command == "run":
        from pipelines.run import main as run_main

        return run_main(args)
    if args.command == "collect":
        from pipelines.collect import main as collect_main

        return collect_main(args)
    if args.command == "train":
        from pipelines.train import main as train_main

        return train_main(args)
    if args.command == "serve":
        from pipelines.serve import main as serve_main

        return serve_main(args)
    if args.command == "report":
        from pipelines.report import main as report_main

        return report_main(args)
    raise AssertionError(args.command)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
