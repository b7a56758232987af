"""Plots: each writes a real PNG of the expected size from plain data; bad data is named."""
import math

import pytest
from PIL import Image

from rlaifv.report import plots

pytestmark = pytest.mark.cpu


def metrics(h: float) -> dict:
    return {"hallucination_rate": h, "strict_hallucination_rate": h + 0.1, "mention_hallucination_rate": h / 2,
            "coverage": 0.7}


def assert_png(path, size=None) -> Image.Image:
    assert path.exists() and path.stat().st_size > 0
    image = Image.open(path)
    assert image.format == "PNG"
    if size:
        assert image.size == size
    assert len(image.convert("RGB").getcolors(1 << 24)) > 1  # not blank
    return image


def test_round_rates_png_has_figure_size(tmp_path):
    out = plots.plot_round_rates(["base", "round 1"], [metrics(0.4), metrics(0.2)], tmp_path / "r.png")
    assert_png(out, (750, 420))  # 7.5 x 4.2 in at 100 dpi


def test_round_rates_names_missing_key_and_bad_value(tmp_path):
    with pytest.raises(ValueError, match="'round 1'.*coverage"):
        no_coverage = {k: 0.1 for k in ("hallucination_rate", "strict_hallucination_rate",
                                        "mention_hallucination_rate")}
        plots.plot_round_rates(["base", "round 1"], [metrics(0.4), no_coverage], tmp_path / "r.png")
    with pytest.raises(ValueError, match="hallucination_rate"):
        plots.plot_round_rates(["base"], [metrics(math.nan)], tmp_path / "r.png")
    with pytest.raises(ValueError, match="2 labels for 1"):
        plots.plot_round_rates(["a", "b"], [metrics(0.1)], tmp_path / "r.png")


def test_train_curves_one_line_per_round(tmp_path):
    log = [{"loss": 0.7 - 0.01 * s, "reward_accuracy": 0.5, "reward_margin": 0.1 * s, "step": s} for s in range(1, 30)]
    assert_png(plots.plot_train_curves({"round 1": log, "round 2": log[:5]}, tmp_path / "t.png"), (1200, 320))
    with pytest.raises(ValueError, match="'round 2' is empty"):
        plots.plot_train_curves({"round 1": log, "round 2": []}, tmp_path / "t.png")
    with pytest.raises(ValueError, match=r"round 1\.loss\[1\]"):
        plots.plot_train_curves({"round 1": [{"loss": 0.5}, {"loss": "x"}]}, tmp_path / "t.png")


def test_pair_plots(tmp_path):
    assert_png(plots.plot_pair_scores({"round 1": ([0, 0, -1], [-1, -2, -3])}, tmp_path / "s.png"), (400, 300))
    lengths = {"round 1": {"before balancing": ([3, 5], [5, 9]), "after balancing": ([3], [5])},
               "round 2": {"before balancing": ([4], [6])}}  # a missing stage is a "not available" panel
    assert_png(plots.plot_pair_lengths(lengths, tmp_path / "l.png"), (920, 560))
    with pytest.raises(ValueError, match=r"round 1\.rejected_score\[0\]"):
        plots.plot_pair_scores({"round 1": ([0], [None])}, tmp_path / "s.png")
    with pytest.raises(ValueError, match="no pairs"):
        plots.plot_pair_lengths({}, tmp_path / "l.png")


def test_p_yes(tmp_path):
    groups = {"object in image": [0.9, 0.8], "object not in image": [0.1]}
    assert_png(plots.plot_p_yes({"round 1": groups, "round 2": {"no ground truth": [0.5]}}, tmp_path / "p.png"),
               (800, 300))


def test_integer_bins_are_centred_on_whole_numbers():
    assert plots._bins([-2, 0, -1]) == [-2.5, -1.5, -0.5, 0.5]
    assert plots._bins([0.25, 0.5]) == 20


def test_smooth_is_a_trailing_mean():
    assert plots._smooth([1.0, 2.0, 3.0, 4.0], 2) == [1.0, 1.5, 2.5, 3.5]


def test_upscaled_png_keeps_pixels_crisp(tmp_path):
    import io

    small = Image.new("RGB", (2, 1))
    small.putpixel((0, 0), (255, 0, 0))
    small.putpixel((1, 0), (0, 0, 255))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    big = Image.open(plots.write_upscaled_png(buffer.getvalue(), tmp_path / "x.png", size=192))
    assert big.size == (192, 96)
    assert big.getpixel((95, 50)) == (255, 0, 0) and big.getpixel((96, 50)) == (0, 0, 255)
    with pytest.raises(ValueError, match="non-empty bytes"):
        plots.write_upscaled_png(b"", tmp_path / "y.png")
