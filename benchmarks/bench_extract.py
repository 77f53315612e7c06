"""Extraction + rendering cost per corpus page, against a bare lxml parse.

For each golden case: the time to turn page.html + item.json into the post's bytes
(decode, HTML5 parse, metadata, body rules, serialisation, rendering), and the time
of a bare ``lxml.html.fromstring`` of the same bytes, measured in the same run.
Target: median ratio <= 1.0 (issue 21).

    python benchmarks/bench_extract.py [--corpus tests/corpus] [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html
from scrapy.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.config import load_sections  # noqa: E402
from crawler.hexo.post import render_post_bytes  # noqa: E402
from crawler.items import PlacedPost  # noqa: E402
from crawler.loaders import load_article  # noqa: E402
from crawler.parsing.page_facts import page_facts  # noqa: E402
from crawler.pipelines.hexo_posts import post_content  # noqa: E402
from crawler.sina.roll_api import RollItem, roll_item  # noqa: E402
from crawler.sina.urls import article_request_url  # noqa: E402

SECTION = next(section for section in load_sections(Settings()) if section.id == "china")


def best_of(function: Callable[[], object], repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls: the least disturbed measurement."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    cases = sorted(path for path in args.corpus.iterdir() if (path / "page.html").is_file())
    if not cases:
        print(f"no corpus cases under {args.corpus}", file=sys.stderr)
        return 1
    print(f"{'case':18} {'bytes':>8} {'post ms':>8} {'lxml ms':>8} {'ratio':>6}  exact")
    ratios = []
    for case in cases:
        page = (case / "page.html").read_bytes()
        listing = roll_item(json.loads((case / "item.json").read_text(encoding="utf-8")))
        url = article_request_url(listing.url)
        expected = (case / "expected.md").read_bytes()

        def extract_and_render(page: bytes = page, listing: RollItem = listing, url: str = url) -> bytes:
            facts = page_facts(page, "text/html", url)
            return render_post_bytes(post_content(PlacedPost(load_article(listing, SECTION, url, facts), "unused.md")))

        exact = extract_and_render() == expected
        ours = best_of(extract_and_render, args.repeat)

        def bare_parse(page: bytes = page) -> object:
            return lxml.html.fromstring(page)

        bare = best_of(bare_parse, args.repeat)
        ratios.append(ours / bare)
        print(
            f"{case.name:18} {len(page):8d} {ours * 1000:8.2f} {bare * 1000:8.2f} {ours / bare:6.2f}  "
            f"{'yes' if exact else 'NO'}"
        )
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (target <= 1.0), max {max(ratios):.2f}, cases {len(ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
