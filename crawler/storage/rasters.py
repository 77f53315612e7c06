"""Which raster image some bytes are, from their first bytes alone.

Invariant: a type is named only when the bytes begin with that format's signature (JPEG,
PNG, GIF, WebP, AVIF); the URL, the ``Content-Type`` and anything after the signature are
never consulted, and every other content (SVG, HTML, an unknown format, a file that only
holds a signature further in) is no raster.  HEXO_IMAGES=local stores only what is named
here, under the extension named here, so a file the blog publishes from its own origin is
served with an image type whatever a server claimed about it.

A file that begins with a raster signature and goes on as something else (``GIF89a`` then
HTML) is that raster to every image decoder, and stored with that raster's extension it is
served as that image type (``image/gif``), never as a document a browser runs."""

from __future__ import annotations

# Format -> the extension a stored file of it gets.
RASTER_EXTENSIONS: dict[str, str] = {
    "jpeg": ".jpg",
    "png": ".png",
    "gif": ".gif",
    "webp": ".webp",
    "avif": ".avif",
}
_FTYP_MAX = 1024  # an ftyp box lists a few brands: a larger one is no image's
_AVIF_BRANDS = (b"avif", b"avis")


def _avif(data: bytes) -> bool:
    """An ISO-BMFF file whose first box is ``ftyp`` naming avif or avis as its major brand
    or as one of its compatible brands."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    if not 16 <= size <= _FTYP_MAX or size % 4:  # 0 (to the end) and 1 (64-bit size) included
        return False
    box = data[:size]
    brands = [box[8:12]] + [box[offset : offset + 4] for offset in range(16, len(box) - 3, 4)]
    return any(brand in _AVIF_BRANDS for brand in brands)


def raster_type(data: bytes) -> str | None:
    """``jpeg``, ``png``, ``gif``, ``webp`` or ``avif`` when data begins with that format's
    signature; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if _avif(data):
        return "avif"
    return None


def raster_extension(data: bytes) -> str | None:
    """The extension a file holding data is stored under (``.jpg``, …); None: not stored."""
    kind = raster_type(data)
    return RASTER_EXTENSIONS[kind] if kind else None
