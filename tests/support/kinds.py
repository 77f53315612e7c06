"""The goldens of the post kinds that are not articles (tests/corpus-kinds/: flashes of
the 7×24 live feed, a gallery, a video) and the answers that list them, served through the
replay proxy: the live API's channel 152 and the US-stock channel list (57045).  Used by
tests/test_e2e_kinds.py and by scripts/try-offline."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import RECORDED, TESTS, corpus_case
from tests.support.replay_proxy import FeedApi, ReplayProxy, ZhiboApi

#: The sections (settings/sections.yaml) that list them.
KIND_SECTIONS = ("zhibo", "feed-usstock")

KINDS = TESTS / "corpus-kinds"
GOOD = corpus_case("nitmeau2811260")
ZHIBO = json.loads((RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_text(encoding="utf-8"))
FLASHES = ZHIBO["result"]["data"]["feed"]["list"]
ARTICLE_PATH_IN_FEED = GOOD.expected_path.replace("新浪财经－国內", "新浪财经－美股频道")


@dataclass(frozen=True)
class KindCase:
    name: str
    item: dict[str, Any]
    expected: bytes
    expected_path: str
    page: bytes | None  # a gallery's or a video's page; None for a flash

    @property
    def https_url(self) -> str:
        url: str = self.item["url"]
        return url.replace("http://", "https://", 1)


def kind_cases() -> dict[str, KindCase]:
    cases = {}
    for folder in sorted(path for path in KINDS.iterdir() if path.is_dir()):
        page = folder / "page.html"
        cases[folder.name] = KindCase(
            name=folder.name,
            item=json.loads((folder / "item.json").read_text(encoding="utf-8")),
            expected=(folder / "expected.md").read_bytes(),
            expected_path=(folder / "expected_path.txt").read_text(encoding="utf-8").rstrip("\n"),
            page=page.read_bytes() if page.is_file() else None,
        )
    return cases


KIND_CASES = kind_cases()
PAGES = [case for case in KIND_CASES.values() if case.page is not None]


def serve_kinds(proxy: ReplayProxy, flashes: list[dict[str, Any]] | None = None) -> tuple[ZhiboApi, FeedApi]:
    """The live API (channel 152) and the US-stock list (57045: the golden article, the
    gallery and the video), and every page they list."""
    zhibo = ZhiboApi({"152": copy.deepcopy(flashes if flashes is not None else FLASHES)}).install(proxy)
    feed_items = [
        {"title": GOOD.item["title"], "url": GOOD.item["url"], "ctime": GOOD.item["ctime"], "media": "环球市场播报"},
        *(case.item for case in PAGES),
    ]
    feed = FeedApi({"57045": feed_items}).install(proxy)
    proxy.add(GOOD.https_url, GOOD.page)
    for case in PAGES:
        assert case.page is not None
        proxy.add(case.https_url, case.page, headers={"Content-Type": "text/html"})
    return zhibo, feed
