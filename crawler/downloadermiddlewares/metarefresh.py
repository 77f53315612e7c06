"""Scrapy's meta-refresh redirects, read from the head of the page only.

Scrapy's MetaRefreshMiddleware looks for ``<meta http-equiv=refresh>`` in the first 4,096
characters, but to get them it decodes the whole page and keeps that text with the
response while the response waits for its callback: for a 200 KB Chinese page, 400 KB
more per response.  The page's text is made (by a parse worker) only when it is parsed.
This middleware gives Scrapy's the same first 4,096 characters, decoded from the first
16 KB (4,096 characters take at most 16 KB in any encoding), with the page's encoding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

HEAD_BYTES = 4 * 4096


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if not isinstance(response, HtmlResponse) or len(response.body) <= HEAD_BYTES:
            return super().process_response(request, response)
        head = response.replace(body=response.body[:HEAD_BYTES], encoding=response.encoding)
        outcome = super().process_response(request, head)
        return response if outcome is head else outcome
