"""Article pages (site notes §7): pure functions over the page's HTML5 tree.

The page is parsed once, with an HTML5 parser (lexbor, scripting on, as a browser
and as the 2022 chain did): 2026 pages carry unquoted attributes and the body must
come out of exactly the tree a browser builds, which lxml's HTML4 parser does not.
"""

from __future__ import annotations

import codecs

from selectolax.lexbor import LexborHTMLParser, LexborNode
from w3lib.encoding import html_to_unicode

from crawler.sina.keywords import split_keywords

BODY_CONTAINERS = ("#artibody", "#article")  # finance/tech/most, then news.sina.com.cn
EDITOR_PREFIXES = ("责任编辑：", "责任编辑:")


def decode_page(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, encoding): HTTP header, then BOM and <meta>, then UTF-8, then GB18030."""

    def utf8_or_gb18030(data: bytes) -> str:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "gb18030"
        return "utf-8"

    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=utf8_or_gb18030)
    return text, encoding


def parser_input(body: bytes, text: str, encoding: str) -> str | bytes:
    """What to parse: body itself when it is exactly text in UTF-8, else text.

    The parser reads UTF-8; given text, it encodes it back first, which costs about a quarter
    of the parse.  Exactly: declared UTF-8, no BOM (the decoding dropped it), and no
    U+FFFD in text (a replaced invalid byte; a genuine U+FFFD takes the text path too).
    """
    if "\ufffd" in text or body.startswith(codecs.BOM_UTF8) or codecs.lookup(encoding).name != "utf-8":
        return text
    return body


def parse_page(page: str | bytes) -> LexborHTMLParser:
    """The page's tree; bytes are read as UTF-8 (see parser_input)."""
    return LexborHTMLParser(page, scripting=True)


def body_container(tree: LexborHTMLParser) -> LexborNode | None:
    for selector in BODY_CONTAINERS:
        node = tree.css_first(selector)
        if node is not None:
            return node
    return None


def _meta(tree: LexborHTMLParser, selector: str) -> str | None:
    node = tree.css_first(selector)
    if node is None:
        return None
    value = (node.attributes.get("content") or "").strip()
    return value or None


def _text(tree: LexborHTMLParser, selector: str) -> str | None:
    node = tree.css_first(selector)
    if node is None:
        return None
    value = " ".join(node.text(deep=True).split())
    return value or None


def og_title(tree: LexborHTMLParser) -> str | None:
    return _meta(tree, 'meta[property="og:title"]')


def heading_title(tree: LexborHTMLParser) -> str | None:
    return _text(tree, "h1.main-title") or _text(tree, "h1#artibodyTitle")


def published_time(tree: LexborHTMLParser) -> str | None:
    return _meta(tree, 'meta[property="article:published_time"]')


def media_name(tree: LexborHTMLParser) -> str | None:
    return (
        _text(tree, ".date-source .source")
        or _text(tree, "#media_name")
        or _meta(tree, 'meta[name="mediaid"]')
        or _meta(tree, 'meta[property="article:author"]')
    )


def editor(tree: LexborHTMLParser) -> str | None:
    value = _text(tree, ".article-editor") or _text(tree, ".show_author")
    if value is None:
        return None
    for prefix in EDITOR_PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix) :].strip()
    return value or None


def keywords(tree: LexborHTMLParser) -> tuple[str, ...]:
    """``<meta name="keywords">``, else ``#keywords[data-wbkey]`` (crawler.sina.keywords)."""
    words = split_keywords([_meta(tree, 'meta[name="keywords"]')])
    if not words:
        node = tree.css_first("#keywords")
        words = split_keywords([node.attributes.get("data-wbkey") if node is not None else None])
    return words
