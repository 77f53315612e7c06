"""The golden posts (tests/corpus articles, tests/corpus-kinds flashes) as posts
(crawler.items), and what HEXO_FRONT_MATTER_EXTRAS adds to them, for the tests of the
extras: each alone and all together, and the sample's lines byte for byte."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations

from crawler.config import RollSection, ZhiboSection
from crawler.hexo.post import FRONT_MATTER_EXTRAS, render_post_bytes
from crawler.items import PlacedPost, Post
from crawler.loaders import load_article, load_flash
from crawler.parsing.page_facts import page_facts
from crawler.pipelines.hexo_posts import post_content
from crawler.sina.roll_api import roll_item
from crawler.sina.urls import article_request_url
from crawler.sina.zhibo_api import flash
from tests.conftest import CASES, TESTS

CHINA = RollSection("china", "国内滚动", ("金融", "新浪财经", "新浪财经－国內"), "新浪财经", True, "155", "1686")
ZHIBO = ZhiboSection("zhibo", "7x24直播", ("金融", "新浪财经", "新浪财经－7x24"), "新浪财经", False, "152")
#: Each extra alone, each pair, and all three.
EXTRA_SETS: tuple[tuple[str, ...], ...] = tuple(
    chosen for size in range(1, len(FRONT_MATTER_EXTRAS) + 1) for chosen in combinations(FRONT_MATTER_EXTRAS, size)
)


@dataclass(frozen=True)
class Golden:
    name: str
    post: Post
    item: dict[str, object]
    expected: bytes  # expected.md: the default bytes
    expected_path: str

    def render(self, extras: tuple[str, ...]) -> bytes:
        return render_post_bytes(post_content(PlacedPost(self.post, self.expected_path), extras))


def golden_posts() -> list[Golden]:
    """Every golden article (section china, clean style) and flash (section zhibo)."""
    goldens = []
    for case in CASES:
        listing = roll_item(dict(case.item))
        url = article_request_url(listing.url)
        post = load_article(listing, CHINA, url, page_facts(case.page, None, url, "clean"))
        goldens.append(Golden(case.name, post, dict(case.item), case.expected, case.expected_path))
    for folder in sorted((TESTS / "corpus-kinds").glob("flash-*")):
        item = json.loads((folder / "item.json").read_text(encoding="utf-8"))
        path = (folder / "expected_path.txt").read_text(encoding="utf-8").rstrip("\n")
        expected = (folder / "expected.md").read_bytes()
        goldens.append(Golden(folder.name, load_flash(flash(item), ZHIBO, "clean"), item, expected, path))
    return goldens


def split_front_matter(text: str) -> tuple[list[str], list[str], str]:
    """(the sample's front-matter lines, the extras' lines, the rest from the closing
    ``---``): the extras are every line after the last of the sample's keys."""
    head, closing, rest = text.partition("\n---\n\n<div>")
    lines = head.split("\n")
    last = max(i for i, line in enumerate(lines) if line.startswith(("date: ", "thumbnail: ")))
    return lines[: last + 1], lines[last + 1 :], closing + rest


def without_extras(text: str) -> str:
    sample, _, rest = split_front_matter(text)
    return "\n".join(sample) + rest
