"""Extraction + rendering cost per corpus page, against a bare lxml parse.

For each golden case: the time to turn page.html + item.json into the post's bytes
(decode, HTML5 parse, metadata, body rules, serialisation, rendering), and the time
of a bare ``lxml.html.fromstring`` of the same bytes, measured in the same run.
Target: median ratio <= 1.0 (issue 21).

``--phases`` also splits our time per page into its steps, each timed alone on the same
page (best of ``--repeat``): decoding, the page's HTML5 parse, the body container's
markup, the metadata selectors, rule 1's parse and rules 2-8 (the first pass), rule 9's
read-back (its parse and rules 2-8 again), and the rest (loaders, front matter,
rendering).  It prints the median of each over the cases and the median ratio the
extraction would have without rule 9's second pass, or without any body rule: where a
target is out of reach, this says which step holds it.

    python benchmarks/bench_extract.py [--corpus tests/corpus] [--repeat 50] [--phases]
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
from selectolax.lexbor import LexborHTMLParser, LexborNode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.config import load_sections  # noqa: E402
from crawler.hexo import body as body_rules  # noqa: E402
from crawler.hexo.post import render_post_bytes  # noqa: E402
from crawler.items import PlacedPost  # noqa: E402
from crawler.loaders import load_article  # noqa: E402
from crawler.net.urls import https_base  # noqa: E402
from crawler.parsing.page_facts import page_facts  # noqa: E402
from crawler.pipelines.hexo_posts import post_content  # noqa: E402
from crawler.sina import article_page  # noqa: E402
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


def inner_html_of(container: LexborNode | None) -> str:
    return body_rules.container_inner_html(container) if container is not None else ""


PHASES = ("decode", "parse", "container", "metadata", "rules 1-8", "rule 9", "rest")


def phase_times(page: bytes, url: str, total: float, repeat: int) -> dict[str, float]:
    """Seconds of each step of page_facts on this article page (see --phases); ``rest`` is
    ``total`` (the whole extraction and rendering) less the others."""
    text, encoding = article_page.decode_page(page, "text/html")
    tree = article_page.parse_page(article_page.parser_input(page, text, encoding))
    container = article_page.body_container(tree)
    inner = inner_html_of(container)
    base = https_base(url)

    def first_pass() -> str:
        root = LexborHTMLParser("<!DOCTYPE html>" + inner, scripting=True).body
        assert root is not None
        return body_rules._apply_rules(root, base, "clean")[0]

    written = first_pass()

    def second_pass() -> bool:
        return body_rules._apply_rules(body_rules._read_back(written), base, "clean")[0] == written

    def metadata() -> object:
        return (
            article_page.og_title(tree),
            article_page.heading_title(tree),
            article_page.published_time(tree),
            article_page.media_name(tree),
            article_page.editor(tree),
            article_page.keywords(tree),
        )

    times = {
        "decode": best_of(lambda: article_page.decode_page(page, "text/html"), repeat),
        "parse": best_of(lambda: article_page.parse_page(article_page.parser_input(page, text, encoding)), repeat),
        "container": best_of(lambda: inner_html_of(article_page.body_container(tree)), repeat),
        "metadata": best_of(metadata, repeat),
        "rules 1-8": best_of(first_pass, repeat),
        "rule 9": best_of(second_pass, repeat),
    }
    times["rest"] = max(0.0, total - sum(times.values()))
    return times


def print_phases(phases: list[dict[str, float]], totals: list[float], bare: list[float]) -> None:
    print()
    print("per page, median over the cases (ms); each step timed alone, best of --repeat")
    medians = {name: statistics.median(case[name] for case in phases) for name in PHASES}
    whole = sum(medians.values())
    for name in PHASES:
        print(f"  {name:10} {medians[name] * 1000:7.3f}  {medians[name] / whole:6.1%}")
    print(f"  {'lxml':10} {statistics.median(bare) * 1000:7.3f}  (the bare parse the ratio is against)")
    without = {
        "without rule 9's second pass": ("rule 9",),
        "without any body rule": ("rules 1-8", "rule 9"),
    }
    for label, left_out in without.items():
        ratios = [
            max(0.0, total - sum(case[name] for name in left_out)) / lxml
            for case, total, lxml in zip(phases, totals, bare, strict=True)
        ]
        print(f"median ratio {label}: {statistics.median(ratios):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--phases", action="store_true", help="also split the time per page into its steps")
    args = parser.parse_args()

    cases = sorted(path for path in args.corpus.iterdir() if (path / "page.html").is_file())
    if not cases:
        print(f"no corpus cases under {args.corpus}", file=sys.stderr)
        return 1
    print(f"{'case':18} {'bytes':>8} {'post ms':>8} {'lxml ms':>8} {'ratio':>6}  exact")
    ratios = []
    phases: list[dict[str, float]] = []
    totals: list[float] = []
    bares: list[float] = []
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
        if args.phases:
            phases.append(phase_times(page, url, ours, args.repeat))
            totals.append(ours)
            bares.append(bare)
        print(
            f"{case.name:18} {len(page):8d} {ours * 1000:8.2f} {bare * 1000:8.2f} {ours / bare:6.2f}  "
            f"{'yes' if exact else 'NO'}"
        )
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (target <= 1.0), max {max(ratios):.2f}, cases {len(ratios)}")
    if phases:
        print_phases(phases, totals, bares)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
