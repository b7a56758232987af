"""rlaifv/ is the pure library: no Ray imports anywhere in it."""
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]


def test_rlaifv_never_imports_ray():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "rlaifv").rglob("*.py")
                 if re.search(r"^\s*(import ray|from ray)\b", p.read_text(), re.M)]
    assert offenders == []
