"""Shared test fixtures: tiny real-architecture VLM checkpoints (built once per session)
and a PIL image helper. Nothing here is autouse."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from PIL import Image, ImageDraw


def draw_image(
    color: tuple[int, int, int] = (220, 40, 40),
    size: int = 48,
    box: tuple[int, int, int, int] = (12, 12, 36, 36),
    shape: str = "square",
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """A size x size RGB image with one filled square or circle (for models and engines)."""
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    else:
        raise ValueError(f"draw_image: shape must be 'square' or 'circle', got {shape!r}")
    return image


@pytest.fixture
def make_image() -> Callable[..., Image.Image]:
    """The `draw_image` helper, as a fixture (conftest modules are not importable)."""
    return draw_image


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a randomly initialised tiny LLaVA (seed 0), built once per session."""
    import torch

    from rlaifv.models.tiny import build_tiny_llava

    torch.set_num_threads(1)
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen2vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a randomly initialised tiny Qwen2-VL (seed 0), built once per session."""
    import torch

    from rlaifv.models.tiny import build_tiny_qwen2vl

    torch.set_num_threads(1)
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny_qwen2vl") / "model", seed=0)
