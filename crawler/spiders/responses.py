"""What the spider reads of a response: its Content-Type, its text, and its page as the
HTML parser takes it.

Invariant: a response is decoded as crawler.sina.article_page.decode_page decodes a page
(the header's charset first, after a BOM; then <meta>, UTF-8, GB18030), whether or not
Scrapy made it a TextResponse.
"""

from __future__ import annotations

from scrapy.http import Response, TextResponse

from crawler.sina.article_page import decode_page, parser_input


def content_type(response: Response) -> str:
    return (response.headers.get("Content-Type") or b"").decode("latin-1")


def _decoded(response: Response) -> tuple[str, str]:
    """(text, encoding).  With a charset in Content-Type, Scrapy's decoding gives the same
    text as decode_page."""
    header = content_type(response)
    if isinstance(response, TextResponse) and "charset=" in header.lower():
        return response.text, response.encoding
    return decode_page(response.body, header)


def text_of(response: Response) -> str:
    return _decoded(response)[0]


def page_of(response: Response) -> str | bytes:
    """An HTML page as the parser takes it (crawler.sina.article_page.parser_input)."""
    text, encoding = _decoded(response)
    return parser_input(response.body, text, encoding)
