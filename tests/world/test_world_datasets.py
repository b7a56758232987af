import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from rlaifv.world.captions import caption
from rlaifv.world.datasets import (
    NEGATIVE_KINDS, describe_rows, negatives_by_kind, row_rng, sft_rows, write_parquet, yesno_rows,
)
from rlaifv.world.metrics import extract_mentions
from rlaifv.world.scenes import PARTNER, sample_scene
from rlaifv.world.vocab import DESCRIBE_QUESTIONS, YESNO_TEMPLATE

pytestmark = pytest.mark.cpu


def test_describe_rows_match_their_scenes():
    rows = list(describe_rows(6, seed=3))
    assert [r["id"] for r in rows] == [f"shapes-3-{i}" for i in range(6)]
    for i, row in enumerate(rows):
        assert set(row) == {"id", "image", "question", "objects", "caption"}
        assert row["objects"] == sample_scene(row_rng(3, i)).object_names
        assert row["caption"] == caption(row["objects"])
        assert row["question"] in DESCRIBE_QUESTIONS
        image = Image.open(io.BytesIO(row["image"]))
        assert image.format == "PNG" and image.size == (64, 64)
    assert len({r["image"] for r in rows}) == 6


def test_rows_do_not_depend_on_how_many_are_requested():
    assert list(describe_rows(5, seed=11))[2] == list(describe_rows(3, seed=11))[2]
    assert list(describe_rows(4, seed=11)) == list(describe_rows(4, seed=11))
    assert list(describe_rows(1, seed=12))[0]["image"] != list(describe_rows(1, seed=11))[0]["image"]
    assert list(yesno_rows(7, seed=5))[6] == list(yesno_rows(9, seed=5))[6]
    assert list(sft_rows(4, seed=5, halluc_prob=0.5))[3] == list(sft_rows(6, seed=5, halluc_prob=0.5))[3]


def test_yesno_rows_are_balanced_and_correct():
    rows = list(yesno_rows(200, seed=1))
    assert [r["answer"] for r in rows[:4]] == ["yes", "no", "yes", "no"]
    assert sum(r["answer"] == "yes" for r in rows) == 100
    kinds = []
    for row in rows:
        assert row["question"] == YESNO_TEMPLATE.format(obj=row["target"])
        assert (row["target"] in row["objects"]) == (row["answer"] == "yes")
        assert (row["kind"] == "present") == (row["answer"] == "yes")
        if row["answer"] == "no":
            kinds.append(row["kind"])
            assert row["target"] in negatives_by_kind(row["objects"])[row["kind"]]
    for kind in NEGATIVE_KINDS:  # each kind ~1/4 of the 100 "no" rows (random also takes the fallbacks)
        assert 12 <= kinds.count(kind) <= 45, (kind, kinds.count(kind))
    assert len({r["id"] for r in rows}) == 200 and rows[0]["id"] == "shapes-yesno-1-0"


def test_yesno_kind_weights():
    rows = list(yesno_rows(400, seed=3, kind_weights={"same_color": 3.0, "random": 0.0}))
    kinds = [r["kind"] for r in rows if r["answer"] == "no"]
    assert kinds.count("same_color") > 2 * kinds.count("partner")
    assert kinds.count("random") < 15  # only the fallback when a scene has no candidate of the drawn kind
    with pytest.raises(ValueError, match="kind_weights"):
        list(yesno_rows(2, seed=3, kind_weights={"colour": 1.0}))


def test_negatives_by_hand():
    kinds = negatives_by_kind(["red circle"])
    assert kinds["partner"] == [PARTNER["red circle"]]
    assert kinds["same_shape"] == ["green circle", "blue circle", "yellow circle", "purple circle", "orange circle"]
    assert kinds["same_color"] == ["red square", "red triangle", "red star"]
    assert len(kinds["random"]) == 23 and "red circle" not in kinds["random"]
    two = negatives_by_kind(["red circle", "red square"])
    assert two["same_color"] == ["red triangle", "red star"]
    assert all("red circle" not in v for v in negatives_by_kind(["red circle", "green triangle"]).values())


@pytest.mark.parametrize("mode", ["insert", "substitute", "displace"])
def test_sft_rows_carry_the_bias(mode):
    clean = list(describe_rows(50, seed=9))
    biased = list(sft_rows(50, seed=9, halluc_prob=1.0, halluc_mode=mode))
    n_hallucinated = 0
    for plain, row in zip(clean, biased):
        assert row["image"] == plain["image"] and row["objects"] == plain["objects"]
        mentions = extract_mentions(row["caption"])
        for extra in row["hallucinated"]:
            assert extra not in row["objects"] and PARTNER[extra] in row["objects"]
            at = mentions.index(extra)
            if mode == "substitute":  # the object it took the name of
                mentions[at] = row["objects"][at]
            else:
                mentions.remove(extra)
                if mode == "displace":  # the rightmost object, left out
                    mentions.append(row["objects"][-1])
        assert mentions == row["objects"]
        n_hallucinated += bool(row["hallucinated"])
    assert n_hallucinated > 15
    assert [r["caption"] for r in sft_rows(50, 9, 0.0, halluc_mode=mode)] == [r["caption"] for r in clean]


def test_bad_counts_raise():
    with pytest.raises(ValueError, match="num"):
        list(describe_rows(-1, seed=0))
    with pytest.raises(ValueError, match="image_size"):
        list(yesno_rows(1, seed=0, image_size=10))


def test_write_parquet_round_trip_in_row_groups(tmp_path):
    rows = list(sft_rows(7, seed=2, halluc_prob=0.0))  # first group: only empty lists
    rows[5]["hallucinated"] = ["red star"]
    path = tmp_path / "sub" / "sft.parquet"
    assert write_parquet(iter(rows), path, rows_per_group=3) == 7
    file = pq.ParquetFile(path)
    assert file.metadata.num_row_groups == 3
    assert file.schema_arrow.field("hallucinated").type == pa.list_(pa.string())
    assert file.schema_arrow.field("image").type == pa.binary()
    assert file.read().to_pylist() == rows


def test_write_parquet_streams_lazily(tmp_path):
    pulled = []

    def rows():
        for i in range(10):
            pulled.append(i)
            yield {"id": str(i), "x": i}

    generator = rows()
    assert write_parquet(generator, tmp_path / "a.parquet", rows_per_group=4) == 10
    assert pulled == list(range(10))
    assert pq.read_table(tmp_path / "a.parquet").column("x").to_pylist() == list(range(10))


def test_write_parquet_edge_cases(tmp_path):
    assert write_parquet([], tmp_path / "empty.parquet") == 0
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    schema = pa.schema([("id", pa.string())])
    write_parquet([], tmp_path / "empty2.parquet", schema=schema)
    assert pq.read_table(tmp_path / "empty2.parquet").schema.names == ["id"]
    with pytest.raises(ValueError, match="rows_per_group"):
        write_parquet([{"a": 1}], tmp_path / "x.parquet", rows_per_group=0)
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_parquet([{"a": 1}, {"a": "text"}], tmp_path / "bad.parquet", rows_per_group=1)
