"""Score a file of model responses in a paper's benchmark format (jsonl, json list or parquet).

Formats:
- "objhal": rows {image_id, question, response, gt_objects} (or `objects`): CHAIR metrics on
  COCO's synonym table (option refined=True: RLAIF-V's Object HalBench list; False: Rohrbach's).
- "amber": rows {id, response}, annotations=PATH to AMBER's annotations.json (relation.json and
  safe_words.txt are taken from the same folder unless relation= / safe_words= say otherwise),
  or rows carrying the annotation inline: {truth, hallu} (generative) or {answer | truth,
  optional type} (discriminative). Option strict=True accepts only "Yes"/"No" answers.
- "shapes": rows {response, objects}: ShapesWorld's exact metrics.
Nothing is fetched: every path is local.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from rlaifv.eval.amber import AMBER_SAFE_WORDS, amber_vocabulary, discriminative_metrics, generative_metrics
from rlaifv.eval.chair import chair_metrics
from rlaifv.eval.synonyms import coco_table
from rlaifv.world.metrics import response_metrics

FORMATS = ("objhal", "amber", "shapes")
OPTIONS = {"objhal": {"refined"}, "amber": {"annotations", "relation", "safe_words", "strict"},
           "shapes": set()}
ROW_ERROR = re.compile(r"row (\d+): (.*)", re.DOTALL)


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a .jsonl, .json (a list of objects) or .parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path} line {number}: not JSON ({error.msg})") from None
    elif path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"{path}: a .json file must hold a list of rows")
    else:
        raise ValueError(f"{path}: expected a .jsonl, .json or .parquet file")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path} row {i}: expected an object, got {type(row).__name__}")
    return rows


def _field(row: dict, names: Sequence[str], where: str) -> object:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    alternatives = " or ".join(repr(n) for n in names)
    raise ValueError(f"{where}: missing field {alternatives}")


def evaluate_file(path: str | Path, fmt: str, **opts: object) -> dict:
    """Metrics of one results file; see the module docstring for formats and options."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown fmt {fmt!r}; expected one of {FORMATS}")
    unknown = set(opts) - OPTIONS[fmt]
    if unknown:
        raise ValueError(f"unknown option(s) for fmt {fmt!r}: {sorted(unknown)}")
    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path} holds no rows")
    where = [f"{path} row {i}" for i in range(len(rows))]
    if fmt == "objhal":
        responses = [_field(r, ["response"], w) for r, w in zip(rows, where)]
        objects = [_field(r, ["gt_objects", "objects"], w) for r, w in zip(rows, where)]
        table = coco_table(bool(opts.get("refined", True)))
        return _renamed(lambda: chair_metrics(responses, objects, table), where)
    if fmt == "shapes":
        responses = [_field(r, ["response"], w) for r, w in zip(rows, where)]
        objects = [_field(r, ["objects"], w) for r, w in zip(rows, where)]
        return _renamed(lambda: response_metrics(responses, objects), where)
    return _evaluate_amber(rows, where, **opts)


def _annotations_by_id(path: Path) -> dict[str, dict]:
    by_id: dict[str, dict] = {}
    for i, record in enumerate(read_rows(path)):
        key = str(_field(record, ["id"], f"{path} row {i}"))
        if key in by_id:
            raise ValueError(f"{path} row {i}: duplicate id {key}")
        by_id[key] = record
    return by_id


def _evaluate_amber(rows: list[dict], where: list[str], annotations: str | Path | None = None,
                    relation: str | Path | None = None, safe_words: str | Path | None = None,
                    strict: bool = False) -> dict:
    folder = Path(annotations).parent if annotations else None
    by_id = _annotations_by_id(Path(annotations)) if annotations else None
    generative: list[tuple[str, object, object, str]] = []
    discriminative: list[tuple[str, object, object, str]] = []
    for row, w in zip(rows, where):
        response = _field(row, ["response"], w)
        if by_id is None:
            note = row
        else:
            key = str(_field(row, ["id"], w))
            if key not in by_id:
                raise ValueError(f"{w}: id {key} has no record in {annotations}")
            note = by_id[key]
        inline_generative = "hallu" in note or isinstance(note.get("truth"), list)
        kind = note.get("type") or ("generative" if inline_generative else None)
        if kind == "generative":
            generative.append((response, _field(note, ["truth"], w), _field(note, ["hallu"], w), w))
        else:
            discriminative.append((response, _field(note, ["answer", "truth"], w), kind, w))
    result: dict = {}
    if generative:
        relation = relation or (folder / "relation.json" if folder else None)
        if relation is None or not Path(relation).exists():
            raise ValueError("AMBER generative rows need AMBER's relation.json: pass relation=PATH")
        if safe_words is None and folder and (folder / "safe_words.txt").exists():
            safe_words = folder / "safe_words.txt"
        lines = Path(safe_words).read_text(encoding="utf-8").splitlines() if safe_words else None
        words = [w.strip() for w in lines if w.strip()] if lines is not None else AMBER_SAFE_WORDS
        vocabulary = amber_vocabulary(json.loads(Path(relation).read_text(encoding="utf-8")), words)
        responses, truths, hallus, rows_at = map(list, zip(*generative))
        result["generative"] = _renamed(
            lambda: generative_metrics(responses, truths, hallus, vocabulary), rows_at)
    if discriminative:
        predictions, answers, kinds, rows_at = map(list, zip(*discriminative))
        types = None if None in kinds else kinds
        result["discriminative"] = _renamed(
            lambda: discriminative_metrics(predictions, answers, types, strict=strict), rows_at)
    return result


def _renamed(score: Callable[[], dict], where: Sequence[str]) -> dict:
    """score(), with an error's leading "row i" replaced by the file row it stands for."""
    try:
        return score()
    except ValueError as error:
        match = ROW_ERROR.match(str(error))
        if match is None:
            raise
        raise ValueError(f"{where[int(match[1])]}: {match[2]}") from None
