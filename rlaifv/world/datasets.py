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
from rlaifv.world.vocab import COLORS, DESCRIBE_QUESTIONS, OBJECTS, YESNO_TEMPLATE


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


def sft_rows(num: int, seed: int, halluc_prob: float, image_size: int = 64) -> Iterator[dict]:
    """Describe SFT rows whose caption carries the co-occurrence bias; `hallucinated` lists it."""
    _check(num, image_size)
    for i in range(num):
        rng, scene, question = _scene_and_question(seed, i, image_size)
        text, hallucinated = biased_caption(scene, rng, halluc_prob)
        yield {
            "id": f"shapes-{seed}-{i}",
            "image": png_bytes(scene, image_size),
            "question": question,
            "objects": scene.object_names,
            "caption": text,
            "hallucinated": hallucinated,
        }


def hard_negatives(present: list[str]) -> list[str]:
    """Absent objects a biased model likely confuses: partners, and present shapes recoloured."""
    candidates = [PARTNER[o] for o in present]
    candidates += [f"{c} {o.split()[1]}" for o in present for c in COLORS]
    return sorted({c for c in candidates if c not in present}, key=OBJECTS.index)


def yesno_rows(num: int, seed: int, image_size: int = 64) -> Iterator[dict]:
    """Yes/no probes {id, image, question, answer, objects, target}; even i -> yes, odd i -> no.

    Half of the "no" rows ask about a hard negative (see hard_negatives), half about a random
    absent object; `target` is the object asked about.
    """
    _check(num, image_size)
    for i in range(num):
        rng = row_rng(seed, i)
        scene = sample_scene(rng, image_size)
        present = scene.object_names
        if i % 2 == 0:
            answer, target = "yes", rng.choice(present)
        else:
            hard = hard_negatives(present)
            answer = "no"
            if rng.random() < 0.5 and hard:
                target = rng.choice(hard)
            else:
                target = rng.choice([o for o in OBJECTS if o not in present])
        yield {
            "id": f"shapes-yesno-{seed}-{i}",
            "image": png_bytes(scene, image_size),
            "question": YESNO_TEMPLATE.format(obj=target),
            "answer": answer,
            "objects": present,
            "target": target,
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
