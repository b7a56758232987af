"""HTML builders: every piece of text is escaped, marks land on the right characters."""
import pytest

from rlaifv.report import html as H

pytestmark = pytest.mark.cpu


def test_marked_escapes_and_wraps_spans():
    text = "x<y red star & blue circle"
    assert H.marked(text, [(15, 26, "repeat"), (4, 12, "")]) == (
        'x&lt;y <mark>red star</mark> &amp; <mark class="repeat">blue circle</mark>')
    assert H.marked("a<b", []) == "a&lt;b"
    with pytest.raises(ValueError, match="span 1"):
        H.marked(text, [(4, 12, ""), (10, 14, "")])
    with pytest.raises(ValueError, match="span 0"):
        H.marked("abc", [(2, 9, "")])


def test_table_escapes_and_checks_row_width():
    out = H.table(["a", "b<"], [["<i>", "1"]])
    assert "<th>b&lt;</th>" in out and "<td>&lt;i&gt;</td>" in out and "<i>" not in out
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        H.table(["a", "b"], [["x"]])


def test_cell_formats():
    assert H.cell(0.25, percent=True) == "25.0%"
    assert H.cell(None) == "\u2013" and H.cell(float("nan")) == "\u2013"
    assert H.cell(0.123456) == "0.123" and H.cell(1234.5) == "1234" and H.cell(90.0) == "90" and H.cell(3) == "3"


def test_figure_only_takes_files_next_to_the_page():
    assert H.figure("rates.png", 'a "b"') == ('<figure><img src="rates.png" alt="a &quot;b&quot;">'
                                             '<figcaption>a &quot;b&quot;</figcaption></figure>')
    for bad in ("../x.png", "/etc/x.png", "", "a/b.png"):
        with pytest.raises(ValueError, match="plain file name"):
            H.figure(bad, "x")


def test_page_escapes_and_checks_images():
    doc = H.page("R <1>", ["meta & more"], [("rates", "Rates", H.not_available("no <data>"))])
    assert "<title>R &lt;1&gt;</title>" in doc and "meta &amp; more" in doc
    assert '<a href="#rates">Rates</a>' in doc and '<section id="rates">' in doc
    assert '<p class="na">not available: no &lt;data&gt;</p>' in doc
    assert "naturalWidth" in doc and doc.startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="anchor"):
        H.section("a b", "x", "")


def test_gallery_card():
    item = H.GalleryItem("example_0.png", "Q<?", ["red circle"], [("base", H.marked("a red circle", [(2, 12, "")]))])
    out = H.gallery([item])
    assert '<img src="example_0.png"' in out and "Q&lt;?" in out and "red circle</p>" in out
    assert '<span class="label">base:</span> a <mark>red circle</mark>' in out


def test_write_page_is_atomic(tmp_path):
    path = H.write_page(tmp_path / "r" / "report.html", "<p>x</p>")
    assert path.read_text() == "<p>x</p>" and not (tmp_path / "r" / "report.tmp").exists()
