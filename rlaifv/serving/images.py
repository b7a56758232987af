"""Images of a chat request: base64 data URLs (always) and http(s) URLs (only when allowed).

Why the checks come in this order: the encoded length is checked before decoding base64 and
the pixel count is read from the image header before the pixels are decoded, so an
oversized upload or a decompression bomb is refused without ever being expanded in memory.
The validated *encoded* bytes are what travels to the model replicas (smaller than pixels).
"""
from __future__ import annotations

import base64
import binascii
import io
import re
import urllib.request
from dataclasses import dataclass
from typing import Callable

from PIL import Image, UnidentifiedImageError

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)
_REMOTE_PREFIXES = ("http://", "https://")
_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"}

Fetcher = Callable[[str, int, float], bytes]  # (url, max_bytes, timeout_s) -> at most max_bytes + 1 bytes


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 8 * 1024 * 1024  # encoded (file) size
    max_pixels: int = 2048 * 2048  # width * height
    allow_remote: bool = False  # http(s) URLs; off by default (SSRF, slow upstreams)
    fetch_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError(f"ImageLimits: max_bytes and max_pixels must be >= 1, got {self.max_bytes}, {self.max_pixels}")


class ImageError(ValueError):
    """A request image that cannot be used; `code` is a short machine-readable reason."""

    def __init__(self, message: str, code: str = "invalid_image"):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # keep `code` across pickling (Ray)
        return (type(self), (str(self), self.code))


def image_limits_from_serve(serve) -> ImageLimits:
    """ImageLimits of a `ServeSection`: the byte cap is the request-body cap."""
    return ImageLimits(max_bytes=serve.max_body_bytes, max_pixels=serve.max_image_pixels,
                       allow_remote=serve.allow_remote_images)


def load_image_bytes(url: str, limits: ImageLimits, fetch: Fetcher | None = None) -> bytes:
    """Encoded image bytes of an `image_url` value, checked to decode within the limits.

    Accepts a `data:image/...;base64,` URL, bare base64, or (if limits.allow_remote) an
    http(s) URL. Raises ImageError naming what is wrong.
    """
    if not isinstance(url, str) or not url.strip():
        raise ImageError("image_url.url must be a non-empty string", "invalid_image_url")
    url = url.strip()
    if url[:5].lower() == "data:":
        data = _decode_data_url(url, limits.max_bytes)
    elif url.lower().startswith(_REMOTE_PREFIXES):
        if not limits.allow_remote:
            raise ImageError("remote image URLs are disabled on this server; send the image as a base64 data URL "
                             "(data:image/png;base64,...)", "remote_images_disabled")
        data = (fetch or fetch_url)(url, limits.max_bytes, limits.fetch_timeout_s)
        if len(data) > limits.max_bytes:
            raise ImageError(f"image at {url[:100]} is larger than the limit of {limits.max_bytes} bytes",
                             "image_too_large")
    elif re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I):  # a scheme; base64 never holds a colon
        raise ImageError(f"unsupported image URL scheme {url.split(':', 1)[0]!r}; send a base64 data URL",
                         "invalid_image_url")
    else:
        data = _decode_base64(url, limits.max_bytes)
    check_image(data, limits)
    return data


def check_image(data: bytes, limits: ImageLimits) -> tuple[int, int]:
    """(width, height) of encoded image bytes after checking size, pixel count and integrity."""
    if len(data) > limits.max_bytes:
        raise ImageError(f"image is {len(data)} bytes, above the limit of {limits.max_bytes}", "image_too_large")
    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
            width, height = im.size
            fmt = im.format
            if fmt not in _FORMATS:
                raise ImageError(f"unsupported image format {fmt}; use one of {sorted(_FORMATS)}", "invalid_image")
            if width * height > limits.max_pixels:
                raise ImageError(f"image is {width}x{height} = {width * height} pixels, above the limit of "
                                 f"{limits.max_pixels}", "image_too_large")
            im.load()  # now decode, to catch truncated/corrupt data here rather than in a replica
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"image data could not be decoded: {exc}", "invalid_image") from exc
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})", "invalid_image")
    return width, height


def decode_image(data: bytes) -> Image.Image:
    """RGB PIL image of bytes already checked by `check_image`."""
    return Image.open(io.BytesIO(data)).convert("RGB")


def _decode_data_url(url: str, max_bytes: int) -> bytes:
    match = _DATA_URL.match(url[:256])
    if not match:
        raise ImageError("malformed data URL; expected data:image/<type>;base64,<data>", "invalid_image_url")
    mime = (match.group("mime") or "").lower()
    if not mime.startswith("image/"):
        raise ImageError(f"data URL media type must be image/*, got {mime or 'none'!r}", "invalid_image_url")
    if not match.group("b64"):
        raise ImageError("data URL must be base64-encoded (data:image/<type>;base64,...)", "invalid_image_url")
    return _decode_base64(url[match.end():], max_bytes)


def _decode_base64(text: str, max_bytes: int) -> bytes:
    text = "".join(text.split())  # tolerate line breaks
    if len(text) > 4 * ((max_bytes + 2) // 3):
        raise ImageError(f"image is larger than the limit of {max_bytes} bytes", "image_too_large")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image data is not valid base64: {exc}", "invalid_image") from exc


def fetch_url(url: str, max_bytes: int, timeout_s: float) -> bytes:
    """GET an http(s) URL, reading at most max_bytes + 1 bytes (enough to tell it is too large)."""
    request = urllib.request.Request(url, headers={"User-Agent": "rlaifv-serve"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (scheme checked)
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise ImageError(f"image at {url[:100]} is {length} bytes, above the limit of {max_bytes}",
                                 "image_too_large")
            return response.read(max_bytes + 1)
    except ImageError:
        raise
    except Exception as exc:  # network errors are the client's URL problem, not a server fault
        raise ImageError(f"could not fetch image from {url[:100]}: {exc}", "image_fetch_failed") from exc
