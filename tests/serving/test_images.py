"""Request images: data URLs and base64 within byte/pixel limits; remote URLs only when allowed."""
import base64
import io

import pytest
from PIL import Image

from rlaifv.serving.images import ImageError, ImageLimits, check_image, decode_image, load_image_bytes

pytestmark = pytest.mark.cpu


def png(width=6, height=4, color=(200, 10, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def data_url(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


LIMITS = ImageLimits(max_bytes=10_000, max_pixels=100 * 100)


def code_of(url, limits=LIMITS, fetch=None) -> str:
    with pytest.raises(ImageError) as info:
        load_image_bytes(url, limits, fetch)
    return info.value.code


def test_data_url_and_bare_base64_decode_to_the_same_pixels():
    data = png()
    assert load_image_bytes(data_url(data), LIMITS) == data
    assert load_image_bytes(base64.b64encode(data).decode(), LIMITS) == data
    assert load_image_bytes(data_url(data, "image/jpeg;charset=x"), LIMITS) == data  # declared type is not trusted
    image = decode_image(data)
    assert image.size == (6, 4) and image.mode == "RGB" and image.getpixel((0, 0)) == (200, 10, 30)
    assert check_image(data, LIMITS) == (6, 4)


def test_pixel_limit_is_checked_from_the_header():
    assert code_of(data_url(png(101, 100))) == "image_too_large"
    assert load_image_bytes(data_url(png(100, 100)), LIMITS)  # exactly at the limit


def test_byte_limit_before_and_after_base64():
    data = png(90, 90, (1, 2, 3))
    tight = ImageLimits(max_bytes=len(data) - 1, max_pixels=10**6)
    assert code_of(data_url(data), tight) == "image_too_large"
    huge = "data:image/png;base64," + "A" * 20_000  # refused before decoding
    assert code_of(huge) == "image_too_large"


@pytest.mark.parametrize("url, code", [
    ("", "invalid_image_url"),
    ("data:text/plain;base64,aGVsbG8=", "invalid_image_url"),
    ("data:image/png,rawbytes", "invalid_image_url"),
    ("data:image/png;base64,@@@@", "invalid_image"),
    ("data:image/png;base64," + base64.b64encode(b"not an image at all").decode(), "invalid_image"),
    ("file:///etc/passwd", "invalid_image_url"),
    ("ftp://example.com/a.png", "invalid_image_url"),
])
def test_bad_images(url, code):
    assert code_of(url) == code


def test_truncated_image_is_refused():
    data = png(50, 50, (9, 9, 9))
    assert code_of(data_url(data[: len(data) // 2])) == "invalid_image"


def test_remote_urls_only_when_allowed():
    calls = []

    def fetch(url, max_bytes, timeout):
        calls.append((url, max_bytes))
        return png()

    assert code_of("https://example.com/cat.png", fetch=fetch) == "remote_images_disabled"
    assert calls == []
    allowed = ImageLimits(max_bytes=10_000, max_pixels=10_000, allow_remote=True)
    assert load_image_bytes("https://example.com/cat.png", allowed, fetch) == png()
    assert calls == [("https://example.com/cat.png", 10_000)]
    assert code_of("http://x/big.png", allowed, fetch=lambda u, m, t: b"\0" * (m + 1)) == "image_too_large"


def test_unreachable_remote_url_is_a_client_error():
    allowed = ImageLimits(allow_remote=True, fetch_timeout_s=0.5)
    assert code_of("http://127.0.0.1:9/none.png", allowed) == "image_fetch_failed"


def test_limits_validation():
    with pytest.raises(ValueError, match="max_pixels"):
        ImageLimits(max_pixels=0)
