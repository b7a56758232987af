"""evaluate_file on the fixture files (jsonl, json, parquet) and its input errors."""
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlaifv.eval.files import evaluate_file, read_rows
from rlaifv.world.metrics import response_metrics

pytestmark = pytest.mark.cpu

FIXTURES = Path(__file__).parent / "fixtures"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_objhal_jsonl_and_parquet_agree(tmp_path):
    m = evaluate_file(FIXTURES / "objhal.jsonl", "objhal")
    # the hand-computed numbers of test_chair.test_chair_metrics_by_hand
    assert (m["n"], m["chair_s"], m["chair_i"], m["coverage"]) == pytest.approx((4, 2 / 3, 3 / 10, 7 / 9))
    rows = read_rows(FIXTURES / "objhal.jsonl")
    for row in rows:
        row["gt_objects"] = row.pop("gt_objects", None) or row.pop("objects")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "objhal.parquet")
    assert evaluate_file(tmp_path / "objhal.parquet", "objhal") == m


def test_objhal_refined_option(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"response": "A remote control.", "gt_objects": ["remote"]}])
    assert evaluate_file(path, "objhal")["coverage"] == 1.0  # "remote control" is Object HalBench's
    assert evaluate_file(path, "objhal", refined=False)["coverage"] == 1.0  # "remote" still matches
    path = write_jsonl(tmp_path / "p.jsonl", [{"response": "A pedestrian.", "gt_objects": ["person"]}])
    assert evaluate_file(path, "objhal")["n_mentioning"] == 1
    assert evaluate_file(path, "objhal", refined=False)["n_mentioning"] == 0


def test_amber_annotation_file_and_inline_rows_agree():
    expected_generative = {"n": 3, "chair": 3 / 9, "cover": 4 / 6, "hal": 2 / 3, "cog": 2 / 5, "n_nouns": 9}
    from_files = evaluate_file(FIXTURES / "amber_responses.json", "amber",
                               annotations=FIXTURES / "amber" / "annotations.json")
    assert from_files["generative"] == pytest.approx(expected_generative)
    assert from_files["discriminative"]["accuracy"] == pytest.approx(3 / 6)
    assert from_files["discriminative"]["f1"] == pytest.approx(4 / 7)
    inline = evaluate_file(FIXTURES / "amber_inline.jsonl", "amber",
                           relation=FIXTURES / "amber" / "relation.json")
    # inline mode uses AMBER's nine built-in safe words, which include "light" too
    assert inline == from_files
    strict = evaluate_file(FIXTURES / "amber_inline.jsonl", "amber", strict=True,
                           relation=FIXTURES / "amber" / "relation.json")
    assert strict["discriminative"]["accuracy"] == pytest.approx(1 / 6)


def test_amber_errors_name_row_and_field(tmp_path):
    with pytest.raises(ValueError, match="need AMBER's relation.json"):
        evaluate_file(FIXTURES / "amber_inline.jsonl", "amber")
    rows = read_rows(FIXTURES / "amber_inline.jsonl")
    del rows[4]["answer"]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    with pytest.raises(ValueError, match=r"a.jsonl row 4: missing field 'answer' or 'truth'"):
        evaluate_file(path, "amber", relation=FIXTURES / "amber" / "relation.json")
    rows = read_rows(FIXTURES / "amber_inline.jsonl")
    rows[6]["answer"] = "maybe"
    rows[2]["truth"] = ["unicorn"]
    path = write_jsonl(tmp_path / "b.jsonl", rows)
    with pytest.raises(ValueError, match=r"b.jsonl row 2: truth holds 'unicorn'"):
        evaluate_file(path, "amber", relation=FIXTURES / "amber" / "relation.json")
    rows[2]["truth"] = ["car"]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(ValueError, match=r"c.jsonl row 6: answer 'maybe'"):
        evaluate_file(path, "amber", relation=FIXTURES / "amber" / "relation.json")
    shutil.copytree(FIXTURES / "amber", tmp_path / "amber")
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": 99, "response": "Yes"}])
    with pytest.raises(ValueError, match="d.jsonl row 0: id 99 has no record"):
        evaluate_file(path, "amber", annotations=tmp_path / "amber" / "annotations.json")


def test_shapes_file_matches_response_metrics():
    rows = read_rows(FIXTURES / "shapes.jsonl")
    m = evaluate_file(FIXTURES / "shapes.jsonl", "shapes")
    assert m == response_metrics([r["response"] for r in rows], [r["objects"] for r in rows])
    assert m["hallucination_rate"] == pytest.approx(2 / 3) and m["coverage"] == pytest.approx(3 / 7)


def test_file_errors(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [{"response": "a red circle", "objects": ["red circle"]},
                                              {"response": "a blue star"}])
    with pytest.raises(ValueError, match=r"s.jsonl row 1: missing field 'objects'"):
        evaluate_file(path, "shapes")
    path = write_jsonl(tmp_path / "o.jsonl", [{"response": "a dog"}])
    with pytest.raises(ValueError, match=r"o.jsonl row 0: missing field 'gt_objects' or 'objects'"):
        evaluate_file(path, "objhal")
    path = write_jsonl(tmp_path / "u.jsonl", [{"response": "a dog", "gt_objects": ["unicorn"]}])
    with pytest.raises(ValueError, match=r"u.jsonl row 0: gt_objects\[0\] holds 'unicorn'"):
        evaluate_file(path, "objhal")
    with pytest.raises(ValueError, match="unknown fmt 'pope'"):
        evaluate_file(path, "pope")
    with pytest.raises(ValueError, match=r"unknown option\(s\) for fmt 'shapes': \['refined'\]"):
        evaluate_file(path, "shapes", refined=True)
    (tmp_path / "bad.jsonl").write_text('{"response": "x"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl line 2: not JSON"):
        evaluate_file(tmp_path / "bad.jsonl", "shapes")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="holds no rows"):
        evaluate_file(tmp_path / "empty.jsonl", "shapes")
    with pytest.raises(ValueError, match="expected a .jsonl, .json or .parquet"):
        evaluate_file(tmp_path / "x.csv", "shapes")
