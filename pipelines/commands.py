"""The single-process subcommands: `data shapes`, `generate`, `eval` (no Ray cluster needed)."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
from PIL import Image


def data_shapes(args) -> int:
    from rlaifv.world.datasets import describe_rows, write_parquet, yesno_rows

    make = describe_rows if args.kind == "describe" else yesno_rows
    n = write_parquet(make(args.num, args.seed, image_size=args.image_size), args.output)
    print(f"wrote {n} {args.kind} rows to {args.output}")
    return 0


def iter_parquet_rows(path: str, batch_size: int = 256) -> Iterator[list[dict]]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        yield batch.to_pylist()


def _prompts(rows: list[dict]):
    from rlaifv.engine.base import Prompt

    return [Prompt(question=r["question"], image=Image.open(io.BytesIO(r["image"])).convert("RGB")) for r in rows]


def sample_responses(engine, path: str, *, num_samples: int, temperature: float, max_tokens: int,
                     seed: int, batch_size: int = 256) -> Iterator[dict]:
    """Every row of a parquet x num_samples responses (sample j of row i is reproducible)."""
    from rlaifv.engine.base import SamplingSpec

    offset = 0
    for rows in iter_parquet_rows(path, batch_size):
        spec = SamplingSpec(n=num_samples, temperature=temperature, max_tokens=max_tokens, seed=seed)
        seeds = [seed + offset + i for i in range(len(rows))]
        outs = engine.generate(_prompts(rows), spec, seeds=seeds)
        for row, completions in zip(rows, outs):
            for j, c in enumerate(completions):
                yield {"id": str(row["id"]), "question": row["question"], "sample": j, "response": c.text,
                       **({"objects": row["objects"]} if "objects" in row else {}),
                       **{k: row[k] for k in ("answer", "kind") if k in row}}
        offset += len(rows)


def generate(args) -> int:
    from rlaifv.engine import make_engine
    from rlaifv.world.datasets import write_parquet

    engine = make_engine(args.backend, args.model)
    rows = sample_responses(engine, args.data, num_samples=args.num_samples, temperature=args.temperature,
                            max_tokens=args.max_tokens, seed=args.seed)
    n = write_parquet(({k: r[k] for k in ("id", "question", "sample", "response")} for r in rows), args.output)
    print(f"wrote {n} responses to {args.output}")
    return 0


def evaluate_model(engine, data: str, *, temperature: float, num_samples: int, max_tokens: int, seed: int) -> dict:
    """ShapesWorld metrics of a model: describe rows (objects) or yes/no rows (answer)."""
    from rlaifv.world.metrics import response_metrics, yesno_metrics

    rows = list(sample_responses(engine, data, num_samples=num_samples, temperature=temperature,
                                 max_tokens=max_tokens, seed=seed))
    if rows and "answer" in rows[0]:
        kinds = [r["kind"] for r in rows] if "kind" in rows[0] else None
        return yesno_metrics([r["response"] for r in rows], [r["answer"] for r in rows], kinds)
    return response_metrics([r["response"] for r in rows], [r["objects"] for r in rows])


def evaluate(args) -> int:
    if args.model:
        if not args.data:
            raise ValueError("eval --model needs --data (a ShapesWorld parquet: rlaifv data shapes ...)")
        from rlaifv.engine import make_engine

        metrics = evaluate_model(make_engine(args.backend, args.model), args.data, temperature=args.temperature,
                                 num_samples=args.num_samples, max_tokens=args.max_tokens, seed=args.seed)
    elif args.responses:
        from rlaifv.eval.files import evaluate_file

        metrics = evaluate_file(args.responses, args.format)
    else:
        raise ValueError("eval needs --model DIR --data F.parquet, or --responses F")
    text = json.dumps(metrics, indent=2, sort_keys=True)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    return 0
