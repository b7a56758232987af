"""write_report on synthetic run directories: every plot is a real PNG the page references, the
gallery holds real answers of two tiny models, and missing pieces never crash the report."""
import json
import re
import shutil
from argparse import Namespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import pipelines.report as report
from pipelines.report import claim_p_yes, hallucination_marks, write_report
from rlaifv.world.vocab import OBJECTS

pytestmark = pytest.mark.cpu

PLOTS = ["rates.png", "training.png", "pair_scores.png", "pair_lengths.png", "p_yes.png", "best_of_n.png"]
EXAMPLES = [f"example_{i}.png" for i in range(8)]


def test_every_plot_is_a_png_the_page_references(written_report):
    page = written_report.read_text()
    assert written_report.name == "report.html" and written_report.parent.name == "report"
    for name in PLOTS + EXAMPLES:
        path = written_report.parent / name
        assert path.stat().st_size > 0, name
        with Image.open(path) as image:
            assert image.format == "PNG", name
            image.verify()
        assert f'src="{name}"' in page, name
    assert "not available" not in page


def test_page_content(written_report):
    page = written_report.read_text()
    # base row of the metrics table (45% / 50% / 22.5% / 70%) and the extra "control" entry
    assert re.search(r"<td>base</td><td>45.0%</td><td>50.0%</td><td>22.5%</td><td>70.0%</td>", page)
    assert "<td>control</td><td>35.0%</td>" in page
    assert "&lt;b&gt;sft only&lt;/b&gt;" in page and "<b>sft only</b>" not in page
    assert page.count('<span class="label">base:</span>') == 8
    assert page.count('<span class="label">final:</span>') == 8
    # training table: 12 steps, last loss 0.69 - 0.05 - 0.24 = 0.4 (round 1), picked step_4
    assert "<td>round 1</td><td>12</td><td>0.4</td>" in page and "<td>step_4</td>" in page
    # best-of-N table: self_reward 30% at N=1, 25% at N=2, 20% at N=4
    assert "<td>self_reward</td><td>30.0%</td><td>25.0%</td><td>20.0%</td>" in page


def test_empty_run_dir_says_not_available(tmp_path):
    path = write_report(tmp_path)
    page = path.read_text()
    assert page.count('class="na"') == 6
    assert "no metrics.json" in page and "no eval/test.parquet" in page
    assert list(path.parent.glob("*.png")) == []


def test_partial_run_and_stale_plots(tmp_path, run_dir_factory):
    run = run_dir_factory(tmp_path / "run", model=None)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({"base": metrics["base"], "rounds": []}))
    for k in (1, 2):
        shutil.rmtree(run / f"round_{k}")
    (run / "report").mkdir()
    (run / "report" / "pair_scores.png").write_bytes(b"stale")
    page = write_report(run).read_text()
    assert (run / "report" / "rates.png").exists() and not (run / "report" / "pair_scores.png").exists()
    assert "no round has a train log yet" in page and "no round has pairs yet" in page
    assert "base answers not available: no model at base/policy" in page
    assert all((run / "report" / name).exists() for name in EXAMPLES)


def test_bad_inputs_are_named_in_the_section(tmp_path, run_dir_factory):
    run = run_dir_factory(tmp_path / "run", model=None)
    log = run / "round_2" / "train" / "train_log.jsonl"
    log.write_text(log.read_text() + "{oops\n")
    (run / "base" / "policy").mkdir(parents=True)
    (run / "base" / "policy" / "config.json").write_text("{}")
    page = write_report(run).read_text()
    assert f"{log}:13: not valid JSON" in page
    assert "base answers not available: generation failed" in page
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "metrics.json").write_text("[1]")
    assert "metrics.json: expected a JSON object, got list" in write_report(tmp_path / "bare").read_text()


def test_gallery_marks_hallucinated_and_repeated_objects(tmp_path, run_dir_factory, monkeypatch):
    run = run_dir_factory(tmp_path / "run", model=None)
    for d in ("base/policy", "final/model"):
        (run / d).mkdir(parents=True)
        (run / d / "config.json").write_text("{}")

    truth = pq.read_table(run / "eval" / "test.parquet").column("objects")[0].as_py()
    first, absent = truth[0], next(o for o in OBJECTS if o not in truth)

    def answers(model, rows, max_tokens=64):
        text = f"There is a {first} and a {first}." if "final" in str(model) else f"There is a {absent}."
        return [text] * len(rows)

    monkeypatch.setattr(report, "gallery_answers", answers)
    page = write_report(run, gallery_size=1).read_text()
    assert f'<span class="label">base:</span> There is a <mark>{absent}</mark>.' in page
    assert f'<span class="label">final:</span> There is a {first} and a <mark class="repeat">{first}</mark>.' in page


def test_hallucination_marks_hand_computed():
    text = "There is a red circle, a blue star and a red circle."
    #       0123456789012345678901234567890123456789012345678901
    assert hallucination_marks(text, ["red circle"]) == [(25, 34, ""), (41, 51, "repeat")]


def test_claim_p_yes_groups_by_ground_truth(tmp_path):
    rows = {"claims": [[["There is a red circle.", "There is a blue star."], []]], "p_yes": [[[0.9, 0.2], []]],
            "objects": [["red circle"]]}
    pq.write_table(pa.table(rows), tmp_path / "a.parquet")
    pq.write_table(pa.table({k: rows[k] for k in ("claims", "p_yes")}), tmp_path / "b.parquet")
    assert claim_p_yes([tmp_path / "a.parquet", tmp_path / "b.parquet"]) == {
        "object in image": [0.9], "object not in image": [0.2], "no ground truth": [0.9, 0.2]}
    pq.write_table(pa.table({"claims": [[["x"]]], "p_yes": [[[0.1, 0.2]]]}), tmp_path / "c.parquet")
    with pytest.raises(ValueError, match="row 0 candidate 0: 1 claims but 2 p_yes"):
        claim_p_yes([tmp_path / "c.parquet"])
    with pytest.raises(ValueError, match=r"a.parquet: missing column\(s\) \['nope'\]"):
        report.read_columns([tmp_path / "a.parquet"], ["claims", "nope"])


def test_main_and_missing_dir(tmp_path, capsys):
    assert report.main(Namespace(run_dir=str(tmp_path))) == 0
    assert str(tmp_path / "report" / "report.html") in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope")
