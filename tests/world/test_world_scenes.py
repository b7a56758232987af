import io
import random

import pytest

from rlaifv.world.scenes import (
    BACKGROUND, PARTNER, RGB, Scene, SceneObject, object_pixels, render_scene, sample_scene,
)
from rlaifv.world.vocab import OBJECTS, SIZES

pytestmark = pytest.mark.cpu


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_partner_is_a_fixed_pairing_of_different_colour_and_shape():
    assert set(PARTNER) == set(OBJECTS)
    for obj, partner in PARTNER.items():
        assert PARTNER[partner] == obj
        assert obj.split()[0] != partner.split()[0]
        assert obj.split()[1] != partner.split()[1]
    assert PARTNER["red circle"] == "green triangle"  # pinned: changing it changes every dataset


def test_same_seed_same_bytes_and_different_seeds_differ():
    first = png(render_scene(sample_scene(random.Random(7))))
    again = png(render_scene(sample_scene(random.Random(7))))
    assert first == again
    others = {png(render_scene(sample_scene(random.Random(s)))) for s in range(8, 20)}
    assert first not in others and len(others) == 12


def test_scenes_are_valid_over_many_seeds():
    counts = set()
    for seed in range(400):
        scene = sample_scene(random.Random(seed))
        names = scene.object_names
        counts.add(len(names))
        assert len(set(names)) == len(names)
        xs = [o.x for o in scene.objects]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)
        boxes = []
        for obj in scene.objects:
            assert obj.size in SIZES
            half = object_pixels(obj.size) // 2
            left, top = obj.x - half, obj.y - half
            side = object_pixels(obj.size)
            assert 0 <= left and left + side <= 64 and 0 <= top and top + side <= 64
            boxes.append((left, top, left + side, top + side))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (seed, a, b)
    assert counts == {1, 2, 3, 4}


def test_rendered_pixels_match_ground_truth():
    for seed in range(60):
        scene = sample_scene(random.Random(seed))
        image = render_scene(scene)
        assert image.mode == "RGB" and image.size == (64, 64)
        colours = {c for _, c in image.getcolors(64 * 64)}
        assert colours == {BACKGROUND} | {RGB[o.color] for o in scene.objects}
        for obj in scene.objects:
            assert image.getpixel((obj.x, obj.y)) == RGB[obj.color], (seed, obj)


def test_shapes_and_sizes_are_visually_distinct():
    def mask(shape, size):
        scene = Scene((SceneObject("red", shape, size, 24, 24),))
        image = render_scene(scene)
        return frozenset((x, y) for x in range(64) for y in range(64) if image.getpixel((x, y)) != BACKGROUND)

    large = {s: mask(s, "large") for s in ("circle", "square", "triangle", "star")}
    assert len(set(large.values())) == 4
    for shape, pixels in large.items():
        small = mask(shape, "small")
        assert 20 <= len(small) < len(pixels) <= 256, shape
    assert len(large["star"]) < len(large["triangle"]) < len(large["circle"])


def test_cooccurrence_makes_partners_appear_together():
    def partner_pairs(prob):
        hits = 0
        for seed in range(300):
            names = sample_scene(random.Random(seed), cooccur_prob=prob).object_names
            hits += any(PARTNER[n] in names for n in names)
        return hits

    always = sum(len(sample_scene(random.Random(s), cooccur_prob=1.0).object_names) > 1 for s in range(300))
    assert partner_pairs(1.0) == always  # every scene with 2+ objects holds a partner pair
    assert partner_pairs(0.0) < 0.3 * always


def test_render_scales_with_image_size():
    scene = sample_scene(random.Random(3))
    image = render_scene(scene, image_size=128)
    assert image.size == (128, 128)
    for obj in scene.objects:
        assert image.getpixel((obj.x * 2, obj.y * 2)) == RGB[obj.color]
    big = sample_scene(random.Random(3), image_size=96)
    assert all(o.x < 96 and o.y < 96 for o in big.objects)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="cooccur_prob"):
        sample_scene(random.Random(0), cooccur_prob=1.5)
    with pytest.raises(ValueError, match="image_size"):
        sample_scene(random.Random(0), image_size=8)
    with pytest.raises(ValueError, match="unknown object 'pink circle'"):
        render_scene(Scene((SceneObject("pink", "circle", "small", 10, 10),)))
