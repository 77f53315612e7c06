"""HEXO_IMAGES=local at the project's polite defaults: one article with 300 images.

The replay proxy (tests/support/replay_proxy.py, in a thread of this process) serves the
golden seed article with 299 images added to its body (its own makes 300), each a small
JPEG at its own ``https://n.sinaimg.cn/finance/many/NNN.jpg``, and a roll-API listing of
that one article.  The crawl runs with the project's own politeness settings (AutoThrottle,
DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_DOMAIN, HEXO_FSYNC, SINA_IMAGE_HOST_RATE): nothing
is relaxed, because this measures what a user waits for.

Printed: the time from process start to exit, the crawl's own elapsed time, images
stored (the per-post cap, HEXO_IMAGES_MAX_PER_POST, is 100), images/s, and the floor
that the image host's rate sets (stored images / SINA_IMAGE_HOST_RATE).  Target: the
100 images stored within 60 s.  Exit status 1 when the post or its 100 images are
missing, or the proxy saw a request beyond the cap.

    .venv/bin/python benchmarks/bench_images.py [--images 300] [--set NAME=VALUE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_crawl import Run, launch  # noqa: E402

from crawler import settings as project_settings  # noqa: E402
from tests.support import rasters  # noqa: E402
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi, load_corpus  # noqa: E402

IMAGE_PREFIX = "https://n.sinaimg.cn/finance/many/"


def _numbered_jpeg(request: ProxyRequest) -> ProxyResponse:
    """A distinct small JPEG per URL (the URL appended after the image's end)."""
    return ProxyResponse(200, rasters.JPEG + request.url.encode(), {"Content-Type": "image/jpeg"})


def article_with_images(page: bytes, urls: list[str]) -> bytes:
    body = "".join(f'<p><img src="{url}"></p>' for url in urls)
    marker = b'<div class="img_wrapper">'
    assert marker in page, "the seed article's own image is where the others go"
    return page.replace(marker, body.encode() + marker, 1)


def image_run(proxy: ReplayProxy, work: Path, settings: dict[str, str], timeout: float) -> tuple[Run, dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "stats.json").unlink(missing_ok=True)
    run_settings = {
        "HEXO_POSTS_DIR": str(work / "posts"),
        "STATE_DB": str(work / "state.sqlite"),
        "MANIFEST": str(work / "manifest.jsonl"),
        "SINA_STATS_FILE": str(work / "stats.json"),
        "LOG_FILE": str(work / "images.log"),
        "LOG_LEVEL": "INFO",
        "HEXO_IMAGES": "local",
        **settings,
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "sina_finance", "-a", "sections=china", "-a", "pages=1"]
    run = Run("images", 1)
    stats = launch(run, command, run_settings, ROOT, work, proxy, timeout)
    return run, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="images in the article (its own one included)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the run")
    parser.add_argument("--target", type=float, default=60.0, help="seconds the run should take at most")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting for the crawl")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)

    seed = next(case for case in load_corpus(args.corpus) if case.name == "seed-haiguan")
    urls = [f"{IMAGE_PREFIX}{number:03d}.jpg" for number in range(args.images - 1)]
    cap = int(settings.get("HEXO_IMAGES_MAX_PER_POST", project_settings.HEXO_IMAGES_MAX_PER_POST))
    rate = float(settings.get("SINA_IMAGE_HOST_RATE", project_settings.SINA_IMAGE_HOST_RATE))
    expected = min(cap, args.images)
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        with ReplayProxy() as proxy:
            proxy.add(seed.https_url, article_with_images(seed.page, urls))
            proxy.add_handler(IMAGE_PREFIX, _numbered_jpeg)
            RollApi({("155", "1686"): [seed.item]}).install(proxy)
            load_before = os.getloadavg()[0]
            run, stats = image_run(proxy, work, settings, args.timeout)
            requested = [url for url in proxy.urls() if url.startswith(IMAGE_PREFIX)]
        stored = int(stats.get("sina/images/stored", 0))
        floor = stored / rate if rate else 0.0
        problems = []
        if run.returncode:
            problems.append(f"exit code {run.returncode}")
        if int(stats.get("sina/posts/new", 0)) != 1:
            problems.append(f"sina/posts/new={stats.get('sina/posts/new')}, not 1")
        if stored != expected:
            problems.append(f"{stored} images stored, not {expected}")
        if len(requested) > expected:
            problems.append(f"{len(requested)} image requests, more than the cap {expected}")
        report = {
            "images_in_article": args.images,
            "cap": cap,
            "image_host_rate": rate,
            "settings": settings,
            "wall_s": run.wall_s,
            "crawl_s": run.crawl_s,
            "stored": stored,
            "image_requests": len(requested),
            "images_per_s": stored / run.wall_s if run.wall_s else 0.0,
            "floor_s": floor,
            "target_s": args.target,
            "met": run.wall_s <= args.target and not problems,
            "peak_rss_mb": run.peak_rss_mb,
            "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
            "problems": problems,
        }
        if args.json:
            print(json.dumps(report, indent=1))
        else:
            verdict = "ok" if report["met"] else "MISSED"
            print(
                f"{args.images} images in one article, HEXO_IMAGES=local, project defaults"
                f"{' + ' + str(settings) if settings else ''}: done in {run.wall_s:.1f} s wall "
                f"(crawl {run.crawl_s or 0:.1f} s), {stored} stored of the cap {cap}, {len(requested)} image requests, "
                f"{report['images_per_s']:.1f} images/s; floor at SINA_IMAGE_HOST_RATE={rate:g}: {floor:.1f} s "
                f"[target <= {args.target:g} s: {verdict}]; load {load_before:.2f}"
            )
        for problem in problems:
            print(f"CHECK FAILED: {problem}", file=sys.stderr)
        if problems:
            args.keep = True
            print(f"logs kept in {work}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
