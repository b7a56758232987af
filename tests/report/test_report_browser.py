"""Check the report as a person would: render it in headless Chromium, look at the pixels and at
the live DOM (every <img> decoded: the page's script records naturalWidth after load)."""
import re
import shutil
import subprocess

import pytest
from PIL import Image

pytestmark = pytest.mark.cpu

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(tmp_path, *args: str) -> str:
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_chromium(written_report, tmp_path):
    url = written_report.resolve().as_uri()
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", url)
    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        assert len(image.convert("RGB").getcolors(1 << 24)) > 1  # not a blank page

    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url)
    images = re.findall(r"<img\b[^>]*>", dom)
    assert len(images) == 14  # 6 plots + 8 gallery images
    widths = [re.search(r'data-natural-width="(\d+)"', tag) for tag in images]
    assert all(w and int(w.group(1)) > 0 for w in widths), images
    assert 'data-broken-images="0"' in dom
