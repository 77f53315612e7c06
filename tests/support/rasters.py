"""Small image files of each raster type the crawler stores, and the hostile files an
image host could serve instead (an SVG with a script, an HTML page, polyglots)."""

from __future__ import annotations

import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_1x1() -> bytes:
    """A real 1×1 grey PNG."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + _png_chunk(b"IEND", b"")
    )


# A real 1×1 GIF (GIF89a, one white pixel).
GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
GIF87A = b"GIF87a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
# JPEG: start of image, a JFIF APP0 segment, end of image (a decoder's header read).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
# WebP: a RIFF container of form WEBP holding a lossless (VP8L) 1×1 image.
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


def avif(major: bytes = b"avif", compatible: tuple[bytes, ...] = (b"mif1", b"miaf")) -> bytes:
    """The start of an AVIF file: its ftyp box (then a meta box would follow)."""
    box = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", len(box) + 4) + box + b"\x00\x00\x00\x08meta"


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('/steal?c='+document.cookie)</script></svg>"
)
HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.domain)</script></body></html>"
# Starts as a GIF (a decoder shows one white pixel), goes on as HTML.
GIF_HTML_POLYGLOT = GIF_1X1 + b"<html><script>alert(document.domain)</script></html>"
# HTML that holds a GIF signature further in: no raster.
HTML_THEN_GIF = b"<html><script>alert(1)</script>" + GIF_1X1
