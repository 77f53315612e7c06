"""Posts (crawler.items) for tests that do not build them from a page: every field set,
as crawler.loaders sets them; ``changes`` replace fields."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from crawler.hexo.body import Body
from crawler.items import ArticlePost, FlashPost, Stock


def a_body(html: str = "<p>x</p>\n", images: tuple[str, ...] = ()) -> Body:
    """BODY with ``images`` as its <img> sources (their spans where the body holds them)."""
    spans = tuple((html.index(url), html.index(url) + len(url), url) for url in images if url in html)
    return Body(html=html, first_image=images[0] if images else None, image_urls=images, image_spans=spans)


def an_article(**changes: Any) -> ArticlePost:
    post = ArticlePost(
        publishid="abcdefg1234567",
        docid=None,
        url="https://finance.sina.com.cn/roll/2026-09-28/doc-iabcdefg1234567.shtml",
        section="china",
        title="标题: 一",
        date=datetime(2022, 1, 24, 11, 2, 7, tzinfo=UTC),
        media=None,
        editor=None,
        keywords=(),
        summary=None,
        excerpt=None,
        categories=("金融", "新浪财经", "新浪财经－国內"),
        author="新浪财经",
        body=a_body(),
        mtime=None,
        updated=None,
    )
    return dataclasses.replace(post, **changes)


def a_flash(**changes: Any) -> FlashPost:
    post = FlashPost(
        publishid="zhibo4242",
        url="https://finance.sina.com.cn/7x24/#4242",
        section="zhibo",
        title="快讯",
        date=datetime(2026, 9, 28, 3, 4, 5, tzinfo=UTC),
        summary="快讯 正文",
        excerpt="正文",
        keywords=("A股",),
        tags=("A股",),
        stocks=(Stock("sh", "600000", "浦发银行"),),
        categories=("金融", "新浪财经", "新浪财经－7x24"),
        author="新浪财经",
        body=a_body("<p>快讯 正文</p>"),
        mtime=1790600000,
        updated=None,
    )
    return dataclasses.replace(post, **changes)
