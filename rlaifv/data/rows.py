"""Validation of user instruction rows (id, question, image) before they enter a pipeline.

Why: one bad row (undecodable image, huge image, non-UTF-8 text, duplicate id) must not kill a
long Ray job; it is set aside with a reason that names the field, and everything else goes on.
Clean rows carry `image` as encoded PNG/JPEG bytes plus every other column unchanged.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

DEFAULT_MAX_PIXELS = 4096 * 4096
MAX_REMOTE_BYTES = 64 * 1024 * 1024
INVALID_ROW_KEY = "__invalid_row__"  # set by the readers on a line that is no row at all
PNG_MAGIC, JPEG_MAGIC = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
_DATA_URL = re.compile(r"data:image/[\w.+-]+(?:;[\w=.-]+)*;base64,(.*)", re.DOTALL)


class RowError(ValueError):
    """A row that cannot enter the pipeline; the message is the reject reason."""


def _text_field(row: dict, name: str) -> str:
    if name not in row or row[name] is None:
        raise RowError(f"missing required field '{name}'")
    value = row[name]
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError(f"field '{name}' is not valid UTF-8") from None
    if not isinstance(value, str):
        raise RowError(f"field '{name}' must be a string (got {type(value).__name__})")
    if not value.strip():
        raise RowError(f"field '{name}' is empty")
    return value


def _row_id(row: dict) -> str:
    value = row.get("id")
    if value is None:
        raise RowError("missing required field 'id'")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(f"field 'id' must be a string or an integer (got {type(value).__name__})")
    if isinstance(value, str) and not value.strip():
        raise RowError("field 'id' is empty")
    return str(value)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = response.read(MAX_REMOTE_BYTES + 1)
    except Exception as error:  # noqa: BLE001 - any network failure is a reason, not a crash
        raise RowError(f"could not fetch image URL '{url}': {error}") from None
    if len(data) > MAX_REMOTE_BYTES:
        raise RowError(f"image at '{url}' is larger than {MAX_REMOTE_BYTES} bytes")
    return data


def _undecodable(error: object) -> RowError:
    return RowError(f"undecodable image in field 'image': {error}")


def _maybe_base64(text: str) -> bytes | None:
    """Decoded bytes if text is base64 of an image, else None (then it is a path)."""
    if len(text) < 16 or not _BASE64.fullmatch(text):
        return None
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if data.startswith((PNG_MAGIC, JPEG_MAGIC)) or len(text) > 4096:  # no path is that long
        return data
    return None


def _read_path(text: str, base_dir: Path | None) -> bytes:
    path = Path(text[len("file://"):] if text.startswith("file://") else text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise _undecodable(f"cannot read image file '{path}': {error.strerror or error}") from None


def _raw_image(value: object, base_dir: Path | None, allow_remote: bool) -> bytes:
    """Encoded bytes from bytes, {bytes|path} dict, data URL, base64, URL or local path."""
    if isinstance(value, dict):  # Hugging Face `datasets` Image column: {"bytes", "path"}
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, str) or not value.strip():
        raise _undecodable(f"expected bytes, base64, a data URL, a URL or a path (got {type(value).__name__})")
    text = value.strip()
    if text.startswith("data:"):
        match = _DATA_URL.fullmatch(text)
        if match is None:
            raise _undecodable("malformed data URL (expected data:image/...;base64,...)")
        try:
            return base64.b64decode("".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError) as error:
            raise _undecodable(f"bad base64 in data URL: {error}") from None
    if text.lower().startswith(("http://", "https://")):
        if not allow_remote:
            raise RowError("remote image URLs are disabled (set data.allow_remote_images: true)")
        return _fetch(text)
    decoded = _maybe_base64(text)
    return decoded if decoded is not None else _read_path(text, base_dir)


def _checked_image(raw: bytes, max_pixels: int) -> bytes:
    """The encoded bytes if they decode fully and fit max_pixels; non PNG/JPEG becomes PNG."""
    try:
        image = Image.open(io.BytesIO(raw))
        width, height = image.size
    except Image.DecompressionBombError as error:
        raise RowError(f"image too large: {error}") from None
    except Exception as error:  # noqa: BLE001 - Pillow raises many types on bad input
        raise _undecodable(error) from None
    if width * height > max_pixels:
        raise RowError(f"image too large: {width}x{height} pixels > max_pixels={max_pixels}")
    try:
        image.load()
    except Exception as error:  # noqa: BLE001
        raise _undecodable(error) from None
    if raw.startswith((PNG_MAGIC, JPEG_MAGIC)):  # also keeps MPO (camera JPEG) bytes as they are
        return raw
    buffer = io.BytesIO()
    image.convert("RGBA" if "A" in image.getbands() else "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def validate_row(row: dict, *, index: int, source: str, base_dir: Path | None, max_pixels: int,
                 allow_remote: bool) -> tuple[dict | None, str | None]:
    """(clean row, None) or (None, reason); `index`/`source` name the row in structural errors."""
    if not isinstance(row, dict):
        return None, f"row {index} of '{source}' is not an object (got {type(row).__name__})"
    if INVALID_ROW_KEY in row:
        return None, str(row[INVALID_ROW_KEY])
    try:
        clean = dict(row)
        clean["id"] = _row_id(row)
        clean["question"] = _text_field(row, "question")
        if row.get("image") is None:
            raise RowError("missing required field 'image'")
        clean["image"] = _checked_image(_raw_image(row["image"], base_dir, allow_remote), max_pixels)
    except RowError as error:
        return None, str(error)
    return clean, None


def _reject_id(row: object) -> str | None:
    value = row.get("id") if isinstance(row, dict) else None
    return None if value is None or isinstance(value, (bytes, dict, list)) else str(value)


def validate_rows(rows: Iterable[dict], *, start_index: int, source: str, seen_ids: set,
                  base_dir: Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                  allow_remote: bool = False) -> tuple[list[dict], list[dict]]:
    """Split rows into (clean rows, rejects {id, source, row_index, reason}).

    seen_ids holds the ids accepted so far (updated in place, shared across batches): a later
    row with an accepted id is rejected; a rejected row does not reserve its id.
    """
    clean_rows: list[dict] = []
    rejects: list[dict] = []
    for offset, row in enumerate(rows):
        index = start_index + offset
        clean, reason = validate_row(row, index=index, source=source, base_dir=base_dir,
                                     max_pixels=max_pixels, allow_remote=allow_remote)
        if clean is not None and clean["id"] in seen_ids:
            clean, reason = None, f"duplicate id '{clean['id']}' (first seen earlier in the input)"
        if clean is None:
            rejects.append({"id": _reject_id(row), "source": source, "row_index": index, "reason": reason})
        else:
            seen_ids.add(clean["id"])
            clean_rows.append(clean)
    return clean_rows, rejects


def _jsonl_rows(path: Path) -> Iterator[dict]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                value = {INVALID_ROW_KEY: f"line {number} of '{path.name}' is not valid UTF-8"}
            except json.JSONDecodeError as error:
                value = {INVALID_ROW_KEY: f"line {number} of '{path.name}' is not valid JSON: {error}"}
            if not isinstance(value, dict):
                value = {INVALID_ROW_KEY: f"line {number} of '{path.name}' is not a JSON object "
                                          f"(got {type(value).__name__})"}
            yield value


def iter_instruction_batches(path: str | Path, batch_size: int) -> Iterator[list[dict]]:
    """Stream a .parquet (by record batches) or .jsonl (line by line) file in lists of rows.

    Never loads the whole file; a jsonl line that is not a JSON object becomes a row that
    validate_row rejects with a reason naming the line.
    """
    path = Path(path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield record_batch.to_pylist()
    elif suffix == ".jsonl":
        batch: list[dict] = []
        for row in _jsonl_rows(path):
            batch.append(row)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
    else:
        raise ValueError(f"unsupported instruction file '{path}': expected a .parquet or .jsonl file")
