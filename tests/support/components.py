"""Scrapy components built in-process, as Scrapy's own tests build them (``get_crawler``,
``build_from_crawler``), for the fast loop.  This gives a crawler whose output (posts,
state, manifest) is under a temporary folder, with a spider, and a stand-in for the
engine's public ``download_async`` that answers from recorded responses.  No network, no
reactor: an async component runs under ``asyncio.run``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from tests.support.settings import output_settings as output_settings
from tests.support.settings import own_settings

SPIDER_NAME = "components"


def make_crawler(tmp_path: Path, settings: Mapping[str, Any] | None = None) -> Crawler:
    """A crawler with its spider made, and its output under tmp_path; ``settings`` on top."""
    crawler = get_crawler(Spider, own_settings({**output_settings(tmp_path), "HEXO_FSYNC": False, **(settings or {})}))
    crawler.spider = Spider.from_crawler(crawler, SPIDER_NAME)
    return crawler


Answer = Response | BaseException


class RecordedDownloads:
    """The engine as a media pipeline uses it (``crawler.engine.download_async``): each URL
    is answered with its recorded response, or its exception is raised; every request
    asked for is kept, in order."""

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self.answers = dict(answers)
        self.requested: list[Request] = []

    async def download_async(self, request: Request) -> Response:
        self.requested.append(request)
        answer = self.answers[request.url]
        if isinstance(answer, BaseException):
            raise answer
        return answer.replace(request=request)

    def install(self, crawler: Crawler) -> RecordedDownloads:
        crawler.engine = self  # type: ignore[assignment]  # the one engine method a pipeline calls
        return self


def response(url: str, body: bytes, status: int = 200, content_type: str = "image/png") -> Response:
    return Response(url, status=status, body=body, headers={"Content-Type": content_type})
