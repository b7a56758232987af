"""ShapesWorld scenes: sampling (with a built-in co-occurrence bias) and pixel-exact rendering.

Why a co-occurrence map: real MLLMs hallucinate objects that usually appear together (a fork
beside a table). `PARTNER` pairs every object with one partner, and `sample_scene` often adds
the partner of an object it already placed, so a model trained here can learn the same prior.
Layout: a GRID x GRID grid of cells; each object sits in its own column (random row, a pixel of
jitter), so "left to right" (the caption order) is never ambiguous and, with a vision patch
the size of a cell (64 px image, 16 px patches), one object falls in one patch, the way
objects in real images fall into a few patches of a real vision tower.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from rlaifv.world.vocab import COLORS, OBJECTS, SHAPES, SIZES

BACKGROUND = (236, 236, 228)
RGB = {
    "red": (215, 35, 35),
    "green": (30, 160, 60),
    "blue": (35, 75, 225),
    "yellow": (235, 200, 20),
    "purple": (135, 50, 185),
    "orange": (245, 125, 20),
}
REFERENCE_SIZE = 64
GRID = 4  # cells per row and column
CELL_FRACTION = {"small": 0.6, "large": 0.9}  # side of the bounding box, as a share of a cell
_PARTNER_SEED = 20240527


@dataclass(frozen=True)
class SceneObject:
    """One filled shape; (x, y) is the centre of its bounding box in image pixels."""

    color: str
    shape: str
    size: str
    x: int
    y: int

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """Objects sorted left to right (strictly increasing x) on an image_size x image_size canvas."""

    objects: tuple[SceneObject, ...]
    image_size: int = REFERENCE_SIZE

    @property
    def object_names(self) -> list[str]:
        """Ground truth in caption order (left to right)."""
        return [o.name for o in self.objects]


def _build_partners() -> dict[str, str]:
    """Pair up OBJECTS (a fixed seeded perfect matching) so partners differ in colour AND shape."""
    rng = random.Random(_PARTNER_SEED)
    for _ in range(10_000):
        order = list(OBJECTS)
        rng.shuffle(order)
        partners: dict[str, str] = {}
        while order:
            first = order.pop()
            fc, fs = first.split()
            match = next((o for o in order if o.split()[0] != fc and o.split()[1] != fs), None)
            if match is None:
                break
            order.remove(match)
            partners[first], partners[match] = match, first
        if len(partners) == len(OBJECTS):
            return {o: partners[o] for o in OBJECTS}
    raise RuntimeError("could not pair the objects")  # pragma: no cover - fixed seed succeeds


PARTNER: dict[str, str] = _build_partners()


def object_pixels(size: str, image_size: int = REFERENCE_SIZE) -> int:
    """Side of an object's bounding box in pixels (a share of one grid cell)."""
    if size not in CELL_FRACTION:
        raise ValueError(f"unknown size {size!r}; expected one of {SIZES}")
    return max(3, round(CELL_FRACTION[size] * image_size / GRID))


def _choose_names(rng: random.Random, count: int, cooccur_prob: float) -> list[str]:
    """Distinct objects; each new one is, with prob cooccur_prob, an absent partner."""
    names = [rng.choice(OBJECTS)]
    while len(names) < count:
        open_partners = [PARTNER[n] for n in names if PARTNER[n] not in names]
        if open_partners and rng.random() < cooccur_prob:
            names.append(rng.choice(open_partners))
        else:
            names.append(rng.choice([o for o in OBJECTS if o not in names]))
    return names


def _box(x: int, y: int, side: int) -> tuple[int, int, int, int]:
    left, top = x - side // 2, y - side // 2
    return left, top, left + side, top + side


def _place(rng: random.Random, sides: list[int], image_size: int) -> list[tuple[int, int]]:
    """One distinct column per object (random row); centres jittered inside the cell."""
    cell = image_size // GRID
    columns = sorted(rng.sample(range(GRID), len(sides)))
    rng.shuffle(columns)  # object k gets a random column; the scene sorts by x afterwards
    centres = []
    for side, col in zip(sides, columns):
        row = rng.randrange(GRID)
        slack = max(0, (cell - side) // 2 - 1)
        jx, jy = rng.randint(-slack, slack), rng.randint(-slack, slack)
        centres.append((col * cell + cell // 2 + jx, row * cell + cell // 2 + jy))
    return centres


def sample_scene(rng: random.Random, image_size: int = REFERENCE_SIZE, cooccur_prob: float = 0.5) -> Scene:
    """1-4 distinct, non-overlapping objects; deterministic given the rng state."""
    if image_size < 24:
        raise ValueError(f"image_size must be >= 24 (got {image_size})")
    if not 0.0 <= cooccur_prob <= 1.0:
        raise ValueError(f"cooccur_prob must be in [0, 1] (got {cooccur_prob})")
    names = _choose_names(rng, rng.randint(1, 4), cooccur_prob)
    sizes = [rng.choice(SIZES) for _ in names]
    centres = _place(rng, [object_pixels(s, image_size) for s in sizes], image_size)
    objects = [SceneObject(n.split()[0], n.split()[1], s, x, y) for n, s, (x, y) in zip(names, sizes, centres)]
    return Scene(tuple(sorted(objects, key=lambda o: o.x)), image_size)


def _star(x: float, y: float, radius: float) -> list[tuple[float, float]]:
    """Five outer points alternating with five inner points, first point straight up."""
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((x + r * math.cos(angle), y + r * math.sin(angle)))
    return points


def render_scene(scene: Scene, image_size: int = REFERENCE_SIZE) -> Image.Image:
    """RGB image, light plain background, filled shapes, no anti-aliasing (same bytes every run)."""
    scale = image_size / scene.image_size
    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        if obj.color not in COLORS or obj.shape not in SHAPES:
            raise ValueError(f"unknown object {obj.name!r} in scene")
        side = object_pixels(obj.size, image_size)
        x, y = round(obj.x * scale), round(obj.y * scale)
        left, top, right, bottom = _box(x, y, side)
        fill = RGB[obj.color]
        if obj.shape == "circle":
            draw.ellipse((left, top, right - 1, bottom - 1), fill=fill)
        elif obj.shape == "square":
            inset = max(1, side // 10)  # same visual weight as the circle
            draw.rectangle((left + inset, top + inset, right - 1 - inset, bottom - 1 - inset), fill=fill)
        elif obj.shape == "triangle":
            draw.polygon([((left + right - 1) / 2, top), (left, bottom - 1), (right - 1, bottom - 1)], fill=fill)
        else:
            draw.polygon(_star((left + right - 1) / 2, (top + bottom - 1) / 2 + side * 0.05, side / 2), fill=fill)
    return image
