"""ShapesWorld datasets as row streams (describe, yes/no, biased SFT) and a streaming parquet writer.

Row i is generated from its own rng seeded by (seed, i), so it never depends on how many rows
are requested, and describe/SFT/yes-no rows with the same (seed, i) show the same image.
"""
from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rlaifv.world.captions import biased_caption, caption
from rlaifv.world.scenes import PARTNER, Scene, render_scene, sample_scene
from rlaifv.world.vocab import COLORS, DESCRIBE_QUESTIONS, OBJECTS, SHAPES, YESNO_TEMPLATE


def row_rng(seed: int, index: int) -> random.Random:
    """The rng of row `index` (str seeds are hashed with SHA-512: stable across runs)."""
    return random.Random(f"shapes:{seed}:{index}")


def png_bytes(scene: Scene, image_size: int) -> bytes:
    """Rendered scene as PNG bytes (deterministic for a given Pillow version)."""
    buffer = io.BytesIO()
    render_scene(scene, image_size).save(buffer, format="PNG")
    return buffer.getvalue()


def _check(num: int, image_size: int) -> None:
    if num < 0:
        raise ValueError(f"num must be >= 0 (got {num})")
    if image_size < 24:
        raise ValueError(f"image_size must be >= 24 (got {image_size})")


def _scene_and_question(seed: int, index: int, image_size: int) -> tuple[random.Random, Scene, str]:
    rng = row_rng(seed, index)
    scene = sample_scene(rng, image_size)
    return rng, scene, rng.choice(DESCRIBE_QUESTIONS)


def describe_rows(num: int, seed: int, image_size: int = 64) -> Iterator[dict]:
    """Describe instructions with ground truth: {id, image, question, objects, caption}."""
    _check(num, image_size)
    for i in range(num):
        _, scene, question = _scene_and_question(seed, i, image_size)
        yield {
            "id": f"shapes-{seed}-{i}",
            "image": png_bytes(scene, image_size),
            "question": question,
            "objects": scene.object_names,
            "caption": caption(scene.object_names),
        }


def sft_rows(
    num: int, seed: int, halluc_prob: float, image_size: int = 64, halluc_mode: str = "insert"
) -> Iterator[dict]:
    """Describe SFT rows whose caption carries the co-occurrence bias; `hallucinated` lists it."""
    _check(num, image_size)
    for i in range(num):
        rng, scene, question = _scene_and_question(seed, i, image_size)
        text, hallucinated = biased_caption(scene, rng, halluc_prob, halluc_mode)
        yield {
            "id": f"shapes-{seed}-{i}",
            "image": png_bytes(scene, image_size),
            "question": question,
            "objects": scene.object_names,
            "caption": text,
            "hallucinated": hallucinated,
        }


NEGATIVE_KINDS = ("partner", "same_shape", "same_color", "random")


def negatives_by_kind(present: list[str]) -> dict[str, list[str]]:
    """Absent objects by how a model may confuse them with what is there.

    partner: the co-occurrence partner of a present object (the policy's learned bias);
    same_shape: a present shape in another colour; same_color: a present colour on another
    shape (a labeler that checks colours but not colour+shape bindings says "yes" to these);
    random: any absent object.
    """
    kinds = {
        "partner": [PARTNER[o] for o in present],
        "same_shape": [f"{c} {o.split()[1]}" for o in present for c in COLORS],
        "same_color": [f"{o.split()[0]} {s}" for o in present for s in SHAPES],
        "random": list(OBJECTS),
    }
    return {k: sorted({o for o in v if o not in present}, key=OBJECTS.index) for k, v in kinds.items()}


def yesno_rows(num: int, seed: int, image_size: int = 64,
               kind_weights: dict[str, float] | None = None) -> Iterator[dict]:
    """Yes/no probes {id, image, question, answer, objects, target, kind}; even i -> yes, odd i -> no.

    A "no" row draws its kind from NEGATIVE_KINDS, uniformly unless `kind_weights` says
    otherwise (random when the scene has no candidate of that kind), so the yes/no metric
    covers every confusion equally; `kind` is "present" for "yes" rows.
    """
    _check(num, image_size)
    weights = [float((kind_weights or {}).get(k, 1.0)) for k in NEGATIVE_KINDS]
    if set(kind_weights or {}) - set(NEGATIVE_KINDS) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"kind_weights: keys among {NEGATIVE_KINDS}, values >= 0, not all 0 (got {kind_weights})")
    for i in range(num):
        rng = row_rng(seed, i)
        scene = sample_scene(rng, image_size)
        present = scene.object_names
        if i % 2 == 0:
            answer, kind, target = "yes", "present", rng.choice(present)
        else:
            negatives = negatives_by_kind(present)
            kind = rng.choices(NEGATIVE_KINDS, weights)[0] if kind_weights else rng.choice(NEGATIVE_KINDS)
            kind = kind if negatives[kind] else "random"
            answer, target = "no", rng.choice(negatives[kind])
        yield {
            "id": f"shapes-yesno-{seed}-{i}",
            "image": png_bytes(scene, image_size),
            "question": YESNO_TEMPLATE.format(obj=target),
            "answer": answer,
            "objects": present,
            "target": target,
            "kind": kind,
        }


def _concrete(data_type: pa.DataType) -> pa.DataType:
    """Replace null types (a column that was empty/None in the first group) with string."""
    if pa.types.is_null(data_type):
        return pa.string()
    if pa.types.is_list(data_type):
        return pa.list_(_concrete(data_type.value_type))
    return data_type


def write_parquet(rows: Iterable[dict], path: str | Path, rows_per_group: int = 512,
                  schema: pa.Schema | None = None) -> int:
    """Stream rows to a parquet file, rows_per_group at a time; returns the number of rows.

    Without a schema it is inferred from the first group (null types become string); every
    later group is converted to that schema, so a mismatching row fails loudly.
    """
    if rows_per_group < 1:
        raise ValueError(f"rows_per_group must be >= 1 (got {rows_per_group})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    written = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal writer, schema, written
        if schema is None:
            inferred = pa.Table.from_pylist(batch).schema
            schema = pa.schema([f.with_type(_concrete(f.type)) for f in inferred])
        table = pa.Table.from_pylist(batch, schema=schema)
        if writer is None:
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table, row_group_size=rows_per_group)
        written += len(batch)
        batch.clear()

    try:
        for row in rows:
            batch.append(row)
            if len(batch) == rows_per_group:
                flush()
        if batch:
            flush()
        if writer is None:  # no rows: still leave a valid (empty) file behind
            pq.write_table(pa.table({}) if schema is None else schema.empty_table(), path)
    finally:
        if writer is not None:
            writer.close()
    return written
