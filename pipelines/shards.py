"""Instruction shards: the unit of streaming output and of resume for collection.

`prepare_instructions` streams the input once (bounded memory), validates every row (bad rows
go to `rejects.parquet` with a reason), and writes `instructions/shard-XXXXX.parquet` plus a
manifest. Output shards are written atomically (tmp + rename) as they complete, so a killed run
restarted on the same directory redoes only the shards it had not finished.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.parquet"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare_instructions(out_dir: Path, *, source: str | None, world_rows: Iterable[dict] | None,
                         shard_size: int, max_pixels: int, allow_remote: bool) -> dict:
    """Validate and shard the instructions once; returns the manifest (reused on resume)."""
    from rlaifv.data.rows import iter_instruction_batches, validate_rows

    inst_dir = out_dir / "instructions"
    manifest_path = inst_dir / MANIFEST
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    if source is not None:
        src = Path(source)
        batches = iter_instruction_batches(src, batch_size=shard_size)
        base_dir = src.parent
    else:
        batches, base_dir, source = _chunks(world_rows or [], shard_size), None, "shapesworld"
    seen: set = set()
    rejects: list[dict] = []
    shards, buffer, index = [], [], 0

    def flush(rows: list[dict]) -> None:
        tagged = [{**r, "shard": len(shards)} for r in rows]  # routes outputs back to their shard
        write_table_atomic(pa.Table.from_pylist(tagged), inst_dir / shard_name(len(shards)))
        shards.append({"file": shard_name(len(shards)), "rows": len(rows)})

    for batch in batches:
        good, bad = validate_rows(batch, start_index=index, source=str(source), seen_ids=seen,
                                  base_dir=base_dir, max_pixels=max_pixels, allow_remote=allow_remote)
        index += len(batch)
        rejects.extend(bad)
        buffer.extend(good)
        while len(buffer) >= shard_size:
            flush(buffer[:shard_size])
            buffer = buffer[shard_size:]
    if buffer:
        flush(buffer)
    reject_table = pa.Table.from_pylist(rejects, schema=pa.schema(
        [("id", pa.string()), ("source", pa.string()), ("row_index", pa.int64()), ("reason", pa.string())]))
    write_table_atomic(reject_table, out_dir / "rejects.parquet")
    manifest = {"source": str(source), "rows_read": index, "rows_rejected": len(rejects),
                "shards": [{**s, "shard": i} for i, s in enumerate(shards)]}
    for r in rejects:
        print(f"rejected row {r['row_index']} (id={r['id']!r}) of {r['source']}: {r['reason']}")
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def pending_shards(out_dir: Path, manifest: dict) -> list[dict]:
    """Shards whose outputs are not complete yet (both candidates and pairs written)."""
    return [s for s in manifest["shards"]
            if not ((out_dir / "candidates" / s["file"]).exists() and (out_dir / "pairs_raw" / s["file"]).exists())]
