import base64
import http.server
import io
import json
import socket
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from rlaifv.data.rows import iter_instruction_batches, validate_row, validate_rows

pytestmark = pytest.mark.cpu


def encoded(fmt: str, size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG, JPEG = encoded("PNG"), encoded("JPEG")


def truncated_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((32, 32), 64).save(buffer, format="PNG")  # noise: IDAT is not tiny
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def check(row, **kwargs):
    options = {"index": 0, "source": "in.jsonl", "base_dir": None, "max_pixels": 10_000, "allow_remote": False}
    return validate_row(row, **{**options, **kwargs})


def reason(row, **kwargs):
    clean, why = check(row, **kwargs)
    assert clean is None
    return why


def test_clean_row_keeps_bytes_and_other_columns():
    clean, why = check({"id": 7, "question": "What?", "image": PNG, "extra": [1, 2]})
    assert why is None
    assert clean == {"id": "7", "question": "What?", "image": PNG, "extra": [1, 2]}
    assert check({"id": "a", "question": "Q".encode(), "image": JPEG})[0]["image"] == JPEG
    assert check({"id": "a", "question": "Qé".encode(), "image": JPEG})[0]["question"] == "Qé"


def test_image_encodings(tmp_path):
    b64 = base64.b64encode(PNG).decode()
    assert check({"id": 1, "question": "q", "image": b64})[0]["image"] == PNG
    assert check({"id": 1, "question": "q", "image": "data:image/png;base64," + b64})[0]["image"] == PNG
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(JPEG)
    assert check({"id": 1, "question": "q", "image": "imgs/a.jpg"}, base_dir=tmp_path)[0]["image"] == JPEG
    absolute = str(tmp_path / "imgs" / "a.jpg")
    assert check({"id": 1, "question": "q", "image": absolute})[0]["image"] == JPEG
    assert check({"id": 1, "question": "q", "image": {"bytes": PNG, "path": None}})[0]["image"] == PNG
    gif = check({"id": 1, "question": "q", "image": encoded("GIF")})[0]["image"]
    assert gif.startswith(b"\x89PNG") and Image.open(io.BytesIO(gif)).size == (8, 6)


@pytest.mark.parametrize("row, expected", [
    ({"question": "q", "image": PNG}, "missing required field 'id'"),
    ({"id": "  ", "question": "q", "image": PNG}, "field 'id' is empty"),
    ({"id": True, "question": "q", "image": PNG}, "field 'id' must be a string or an integer (got bool)"),
    ({"id": 1.5, "question": "q", "image": PNG}, "field 'id' must be a string or an integer (got float)"),
    ({"id": 1, "image": PNG}, "missing required field 'question'"),
    ({"id": 1, "question": " ", "image": PNG}, "field 'question' is empty"),
    ({"id": 1, "question": b"\xff\xfe bad", "image": PNG}, "field 'question' is not valid UTF-8"),
    ({"id": 1, "question": 3, "image": PNG}, "field 'question' must be a string (got int)"),
    ({"id": 1, "question": "q"}, "missing required field 'image'"),
    ({"id": 1, "question": "q", "image": "https://example.com/a.png"},
     "remote image URLs are disabled (set data.allow_remote_images: true)"),
])
def test_reject_reasons(row, expected):
    assert reason(row) == expected


@pytest.mark.parametrize("image, expected", [
    (b"not an image at all", "undecodable image in field 'image': cannot identify image file"),
    (truncated_png(), "undecodable image in field 'image': image file is truncated"),
    ("data:image/png;base64,@@@", "undecodable image in field 'image': bad base64 in data URL"),
    ("data:text/plain,hello", "undecodable image in field 'image': malformed data URL"),
    ("missing/file.png", "undecodable image in field 'image': cannot read image file"),
    (12, "undecodable image in field 'image': expected bytes, base64, a data URL, a URL or a path (got int)"),
])
def test_undecodable_images(image, expected):
    assert reason({"id": 1, "question": "q", "image": image}).startswith(expected)


def test_too_large_and_not_an_object():
    big = encoded("PNG", size=(200, 100))
    assert reason({"id": 1, "question": "q", "image": big}) == "image too large: 200x100 pixels > max_pixels=10000"
    assert reason(["id", "q"], index=4) == "row 4 of 'in.jsonl' is not an object (got list)"


@pytest.fixture()
def image_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            self.send_response(200)
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/a.png"
    server.shutdown()
    server.server_close()
    thread.join()


def test_remote_images_when_allowed(image_server):
    assert check({"id": 1, "question": "q", "image": image_server}, allow_remote=True)[0]["image"] == PNG
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/x.png"
    why = reason({"id": 1, "question": "q", "image": dead}, allow_remote=True)
    assert why.startswith(f"could not fetch image URL '{dead}'")


def test_validate_rows_duplicates_and_reject_shape():
    seen = set()
    rows = [
        {"id": "a", "question": "q", "image": b"junk"},  # rejected: does not reserve 'a'
        {"id": "a", "question": "q", "image": PNG},
        {"id": "b", "question": "q", "image": PNG},
        {"id": "a", "question": "q2", "image": PNG},
    ]
    clean, rejects = validate_rows(rows, start_index=10, source="x.parquet", seen_ids=seen, max_pixels=100)
    assert [r["id"] for r in clean] == ["a", "b"]
    assert [(r["id"], r["source"], r["row_index"]) for r in rejects] == [("a", "x.parquet", 10), ("a", "x.parquet", 13)]
    assert rejects[0]["reason"].startswith("undecodable image")
    assert rejects[1]["reason"] == "duplicate id 'a' (first seen earlier in the input)"
    assert seen == {"a", "b"}
    clean, rejects = validate_rows([{"id": "b", "question": "q", "image": PNG}, {"question": "q"}],
                                   start_index=14, source="x.parquet", seen_ids=seen)
    assert clean == [] and [r["row_index"] for r in rejects] == [14, 15] and rejects[1]["id"] is None


def test_jsonl_streaming_with_bad_lines(tmp_path):
    b64 = base64.b64encode(PNG).decode()
    lines = [
        json.dumps({"id": 1, "question": "q", "image": b64}).encode(),
        b"{not json",
        b"",
        json.dumps([1, 2]).encode(),
        b"\xff\xfe",
        json.dumps({"id": 2, "question": "q", "image": b64}).encode(),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    batches = list(iter_instruction_batches(path, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    rows = [row for batch in batches for row in batch]
    clean, rejects = validate_rows(rows, start_index=0, source=str(path), seen_ids=set())
    assert [r["id"] for r in clean] == ["1", "2"]
    reasons = [r["reason"] for r in rejects]
    assert reasons[0].startswith("line 2 of 'in.jsonl' is not valid JSON: ")
    assert reasons[1] == "line 4 of 'in.jsonl' is not a JSON object (got list)"
    assert reasons[2] == "line 5 of 'in.jsonl' is not valid UTF-8"


def test_parquet_streaming(tmp_path):
    path = tmp_path / "in.parquet"
    table = pa.table({"id": [str(i) for i in range(5)], "question": ["q"] * 5, "image": [PNG] * 5})
    pq.write_table(table, path, row_group_size=2)
    batches = list(iter_instruction_batches(path, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    clean, rejects = validate_rows(batches[0], start_index=0, source="in.parquet", seen_ids=set())
    assert rejects == [] and clean[1] == {"id": "1", "question": "q", "image": PNG}


def test_reader_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="unsupported instruction file '.*data.csv'"):
        list(iter_instruction_batches(tmp_path / "data.csv", batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_instruction_batches(tmp_path / "data.jsonl", batch_size=0))
