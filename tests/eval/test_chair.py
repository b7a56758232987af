"""CHAIR / Object HalBench metrics on hand-made responses, and ShapesWorld through the same path."""
import json
import random
from pathlib import Path

import pytest

from rlaifv.eval.chair import chair_metrics, extract_objects, ground_truth, judge_objects
from rlaifv.eval.synonyms import SynonymTable, coco_table
from rlaifv.world.metrics import response_metrics
from rlaifv.world.vocab import OBJECTS

pytestmark = pytest.mark.cpu

FIXTURES = Path(__file__).parent / "fixtures"


def objhal_rows():
    return [json.loads(line) for line in (FIXTURES / "objhal.jsonl").read_text().splitlines()]


def test_extract_objects_plural_multiword_and_aliases():
    table = coco_table()
    assert extract_objects("Two women sit on a couch with teddy bears.", table) == [
        "person", "couch", "teddy bear",
    ]
    # "baby elephant" is an elephant (not a person), "toilet seat" a toilet (not a chair)
    assert extract_objects("A baby elephant stands beside cell phones and a toilet seat.", table) == [
        "elephant", "cell phone", "toilet",
    ]
    assert extract_objects("A dog, a cat and a dog.", table) == ["dog", "cat", "dog"]
    assert extract_objects("", table) == []


def test_judge_objects_by_hand():
    table = coco_table()
    truth = ground_truth(["dog", "frisbee", "bench"], table)
    j = judge_objects("A dog chases a frisbee while a dog and a cat watch from the bench.", truth, table)
    assert j.mentions == ["dog", "frisbee", "dog", "cat", "bench"]
    assert (j.hallucinated, j.covered, j.n_words) == (["cat"], ["dog", "frisbee", "bench"], 15)


def test_chair_metrics_by_hand():
    rows = objhal_rows()
    m = chair_metrics([r["response"] for r in rows],
                      [r.get("gt_objects", r.get("objects")) for r in rows], coco_table())
    # row 0: person, couch, teddy bear   (GT woman->person, sofa->couch, teddy bear, remote)
    # row 1: dog, frisbee, dog, cat, bench -> cat hallucinated     row 2: no object
    # row 3: elephant, cell phone, toilet  -> cell phone, toilet hallucinated (GT elephant)
    assert m["n"] == 4 and m["n_mentioning"] == 3
    assert m["chair_s"] == pytest.approx(2 / 3)  # rows 1 and 3 of the 3 that mention objects
    assert m["chair_s_all"] == pytest.approx(2 / 4)
    assert m["chair_i"] == pytest.approx(3 / 10)  # (0+1+0+2) / (3+4+0+3) unique per response
    assert m["chair_i_with_repeats"] == pytest.approx(3 / 11)  # (0+1+0+2) / (3+5+0+3)
    assert m["coverage"] == pytest.approx(7 / 9)  # (3+3+0+1) / (4+3+1+1)
    assert m["avg_length"] == pytest.approx((9 + 15 + 6 + 11) / 4)  # words per response


def test_chair_metrics_bad_input():
    table = coco_table()
    with pytest.raises(ValueError, match="2 responses but 1"):
        chair_metrics(["a", "b"], [["dog"]], table)
    with pytest.raises(ValueError, match="at least one"):
        chair_metrics([], [], table)
    with pytest.raises(ValueError, match=r"row 1: gt_objects\[1\] holds 'unicorn'"):
        chair_metrics(["a dog", "a cat"], [["dog"], ["unicorn"]], table)
    with pytest.raises(ValueError, match=r"row 0: gt_objects\[0\] must be a list"):
        chair_metrics(["a dog"], ["dog"], table)
    with pytest.raises(ValueError, match="row 0: response must be a string"):
        chair_metrics([None], [["dog"]], table)


def test_shapes_table_matches_world_metrics():
    table = SynonymTable({obj: [obj] for obj in OBJECTS})
    rng = random.Random(0)
    words = ["red", "blue", "green", "circle", "circles", "star", "stars", "a", "and", "There", "is"]
    for _ in range(200):
        k = rng.randint(1, 5)
        responses = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(k)]
        truths = [rng.sample(OBJECTS, rng.randint(0, 3)) for _ in range(k)]
        chair, world = chair_metrics(responses, truths, table), response_metrics(responses, truths)
        assert (chair["chair_s"], chair["chair_i"], chair["coverage"], chair["avg_length"]) == (
            world["hallucination_rate"], world["mention_hallucination_rate"],
            world["coverage"], world["avg_words"],
        )
