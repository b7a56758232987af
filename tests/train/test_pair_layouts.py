"""Published preference layouts (RLAIF-V-Dataset, RLHF-V-Dataset) stream into ours."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlaifv.train.batching import normalize_pair_row, to_pair_layout

pytestmark = pytest.mark.cpu


def test_rlaifv_dataset_layout_with_image_struct(tmp_path):
    rows = [{"ds_name": "x", "image": {"bytes": b"PNG1", "path": None}, "question": "q", "chosen": "c",
             "rejected": "r", "origin_dataset": "o", "idx": 7}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    out = to_pair_layout(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert pq.read_table(out).to_pylist() == [{"idx": "7", "image": b"PNG1", "question": "q", "chosen": "c",
                                              "rejected": "r"}]


def test_rlhfv_dataset_layout_with_text_json(tmp_path):
    text = json.dumps({"question": "What is it?", "chosen": "A cat.", "rejected": "A dog."})
    pq.write_table(pa.Table.from_pylist([{"text": text, "image": {"bytes": b"IMG", "path": None}}]),
                   tmp_path / "in.parquet")
    out = pq.read_table(to_pair_layout(tmp_path / "in.parquet", tmp_path / "o.parquet")).to_pylist()
    assert out[0]["question"] == "What is it?" and out[0]["chosen"] == "A cat." and out[0]["image"] == b"IMG"


def test_bad_rows_name_the_row_and_field():
    with pytest.raises(ValueError, match="pair row 3: missing field 'rejected'"):
        normalize_pair_row({"image": b"x", "question": "q", "chosen": "c"}, 3)
    with pytest.raises(ValueError, match="pair row 0: field 'text' is not RLHF-V JSON"):
        normalize_pair_row({"text": "{not json", "image": b"x"}, 0)
