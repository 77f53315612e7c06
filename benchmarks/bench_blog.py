"""``hexo generate`` time and peak memory of a blog of crawled posts, at 1k, 5k and 20k posts.

A Hexo 7 site as ``hexo init`` makes it (the landscape theme; the index, archive, category
and tag generators: tests/hexo/package.json) is filled with N posts: the corpus's
``expected.md`` posts (tests/corpus, tests/corpus-kinds) repeated, with their real
bodies and categories, each with its own title (``… #i``), date (one every 17 minutes,
back from 2026-01-01, so about a third fall in Beijing's early morning, when the Beijing
and the UTC day differ), file name (``p<i>.md`` in the post's category folders) and
three tags (from a pool of 300, what ``HEXO_FRONT_MATTER_EXTRAS: tags`` gives a blog).
Then ``hexo generate`` runs in a fresh process (no ``db.json``, no ``public/``) once per
site configuration, and its wall time and peak resident memory (``wait4``'s
``ru_maxrss`` of the node process) are printed, with the pages it wrote and how many
post pages carry another day than the post's Beijing day (``wrong day``).

The configurations (``--variants``; each is ``defaults`` plus one change, but for
``recommended``, which combines the useful ones):

- ``defaults``: what ``hexo init`` writes (per_page 10, archives by year and month,
  ``timezone: ''``, ``post_asset_folder: false``), run with ``TZ=UTC`` (a server);
- ``per_page_50``: ``per_page`` and ``index_generator.per_page`` 50;
- ``archive_yearly``: ``archive_generator: {monthly: false}``;
- ``listing_no_pages``: ``archive_generator``, ``category_generator`` and ``tag_generator``
  ``per_page: 0`` (one page per archive, category and tag);
- ``feed``, ``feed_all``: hexo-generator-feed 3.0.0 with its ``limit`` 20 (its default)
  and 0 (every post in ``atom.xml``);
- ``post_asset_folder``: ``post_asset_folder: true`` (what ``HEXO_IMAGES: local`` needs);
- ``timezone_cfg``: ``timezone: Asia/Shanghai`` in the site, still ``TZ=UTC``;
- ``tz_env``: ``TZ=Asia/Shanghai`` in the environment of ``hexo generate``;
- ``concurrency_16``: ``hexo generate --concurrency 16`` (Hexo's default: no bound);
- ``no_sidebar``: ``theme_config: {sidebar: false}``: no sidebar (landscape's widgets list
  every category, tag and month and the recent posts, on every page; an empty
  ``widgets`` list does not remove them, Hexo merges it into the theme's own);
- ``recommended``: per_page 50, archives by year, feed limit 20, ``TZ=Asia/Shanghai``
  with ``timezone: Asia/Shanghai``, ``--concurrency 16``, no sidebar.

    .venv/bin/python benchmarks/bench_blog.py [--sizes 1000,5000,20000]
        [--variants defaults,recommended,...] [--json] [--keep DIR]

Needs Node.js and ``npm ci --prefix tests/hexo``.  Exits 1 when a generate fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.hexo.fields import yaml_quote  # noqa: E402

HEXO_DIR = ROOT / "tests" / "hexo"
GENERATE_JS = Path(__file__).resolve().parent / "hexo_generate.js"
CORPORA = (ROOT / "tests" / "corpus", ROOT / "tests" / "corpus-kinds")
DEFAULT_SIZES = (1000, 5000, 20000)
FIRST_DATE = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=17)  # not a divisor of a day: every hour of the day gets posts
TAG_POOL = 300
BEIJING = ZoneInfo("Asia/Shanghai")

# The settings of `hexo init`'s _config.yml (Hexo 7 starter) that bear on generating,
# and the theme.  Plugins: the starter's generators (tests/hexo's dependencies).
HEXO_INIT_CONFIG: dict[str, Any] = {
    "title": "bench",
    "url": "http://example.com",
    "root": "/",
    "permalink": ":year/:month/:day/:title/",
    "timezone": "",
    "new_post_name": ":title.md",
    "post_asset_folder": False,
    "future": True,
    "updated_option": "mtime",
    "syntax_highlighter": "highlight.js",
    "index_generator": {"path": "", "per_page": 10, "order_by": "-date"},
    "per_page": 10,
    "pagination_dir": "page",
    "theme": "landscape",
}


@dataclass(frozen=True)
class Variant:
    name: str
    config: dict[str, Any] = field(default_factory=dict)  # merged into HEXO_INIT_CONFIG
    tz: str = "UTC"  # TZ of the hexo process
    feed: bool = False  # hexo-generator-feed loaded
    concurrency: int | None = None  # hexo generate --concurrency (None: Hexo's default, unbounded)


FEED_20 = {"feed": {"type": "atom", "path": "atom.xml", "limit": 20}}
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("defaults"),
        Variant("per_page_50", {"per_page": 50, "index_generator": {"path": "", "per_page": 50, "order_by": "-date"}}),
        Variant("archive_yearly", {"archive_generator": {"monthly": False}}),
        Variant(
            "listing_no_pages",
            {f"{kind}_generator": {"per_page": 0} for kind in ("archive", "category", "tag")},
        ),
        Variant("feed", FEED_20, feed=True),
        Variant("feed_all", {"feed": {"type": "atom", "path": "atom.xml", "limit": 0}}, feed=True),
        Variant("post_asset_folder", {"post_asset_folder": True}),
        Variant("timezone_cfg", {"timezone": "Asia/Shanghai"}),
        Variant("tz_env", tz="Asia/Shanghai"),
        Variant("concurrency_16", concurrency=16),
        Variant("no_sidebar", {"theme_config": {"sidebar": False}}),
        Variant(
            "recommended",
            {
                "per_page": 50,
                "index_generator": {"path": "", "per_page": 50, "order_by": "-date"},
                "archive_generator": {"monthly": False},
                "timezone": "Asia/Shanghai",
                "theme_config": {"sidebar": False},
                **FEED_20,
            },
            tz="Asia/Shanghai",
            feed=True,
            concurrency=16,
        ),
    )
}


@dataclass
class Result:
    posts: int
    variant: str
    seconds: float  # wall
    cpu_seconds: float  # user + system of the node process: less disturbed by other work
    peak_mb: float
    pages: int  # .html files written
    public_mb: float
    wrong_day: int  # post pages whose :year/:month/:day is not the post's Beijing day


# --------------------------------------------------------------------------- the posts


def corpus_posts(corpora: Iterable[Path] = CORPORA) -> list[str]:
    """Every golden ``expected.md`` (the crawler's own bytes), sorted by case."""
    found = sorted(path for corpus in corpora for path in corpus.glob("*/expected.md"))
    if not found:
        raise SystemExit(f"no expected.md under {', '.join(map(str, corpora))}")
    return [path.read_text(encoding="utf-8") for path in found]


_FRONT = re.compile(r"\A\n---\n(?P<front>.*?\n)---\n", re.DOTALL)


def post_date(index: int) -> datetime:
    return FIRST_DATE - index * STEP


def variant_post(template: str, index: int) -> tuple[str, list[str]]:
    """Post ``index`` made from a corpus post: its own title, date and tags; the body and
    categories as crawled.  Returns the text and the categories (its folders)."""
    match = _FRONT.match(template)
    if match is None:
        raise ValueError("not a post: no front matter")
    lines, categories, in_categories = [], [], False
    for line in match["front"].splitlines():
        if line.startswith("title: "):
            title = yaml.safe_load(line[len("title: ") :])
            line = f"title: {yaml_quote(f'{title} #{index}')}"
        elif line.startswith("date: "):
            line = "date: " + post_date(index).strftime("%a, %d %b %Y %H:%M:%S GMT")
        if line.startswith("categories:"):
            in_categories = True
        elif in_categories and line.startswith(" - "):
            categories.append(str(yaml.safe_load(line[3:])))
        else:
            in_categories = False
        lines.append(line)
    tags = [f"标签{(index * 7 + k * 101) % TAG_POOL}" for k in range(3)]
    lines += ["tags: ", *(f" - {tag}" for tag in tags)]
    front = "\n".join(lines)
    return f"\n---\n{front}\n---\n{template[match.end() :]}", categories


def write_posts(posts_dir: Path, count: int, templates: Sequence[str]) -> None:
    for index in range(count):
        text, categories = variant_post(templates[index % len(templates)], index)
        folder = posts_dir.joinpath(*categories)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{index:05d}.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- a site


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def make_site(site: Path, count: int, templates: Sequence[str]) -> None:
    """A site folder holding the posts and a link to tests/hexo/node_modules."""
    site.mkdir(parents=True)
    (site / "node_modules").symlink_to(HEXO_DIR / "node_modules", target_is_directory=True)
    write_posts(site / "source" / "_posts", count, templates)


def configure(site: Path, variant: Variant) -> None:
    """The variant's _config.yml and package.json (the plugins Hexo loads); the cache and
    the output of a former run removed, so every run generates from scratch."""
    package = json.loads((HEXO_DIR / "package.json").read_text(encoding="utf-8"))
    plugins = dict(package["dependencies"])
    if variant.feed:
        plugins.update(package.get("devDependencies", {}))
    hexo_version = json.loads((HEXO_DIR / "node_modules" / "hexo" / "package.json").read_text())["version"]
    site_package = {"name": "bench-site", "private": True, "hexo": {"version": hexo_version}, "dependencies": plugins}
    (site / "package.json").write_text(json.dumps(site_package, indent=2), encoding="utf-8")
    config = merged(HEXO_INIT_CONFIG, variant.config)
    (site / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (site / "db.json").unlink(missing_ok=True)
    shutil.rmtree(site / "public", ignore_errors=True)


def generate(site: Path, variant: Variant) -> tuple[float, float, float]:
    """Run ``hexo generate``; (wall seconds, CPU seconds, peak RSS in MB) of the node process."""
    env = {**os.environ, "TZ": variant.tz}
    command = ["node", str(GENERATE_JS), str(site)]
    if variant.concurrency is not None:
        command += ["--concurrency", str(variant.concurrency)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"hexo generate failed ({process.returncode}): {stderr.decode(errors='replace')}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: kilobytes


_POST_PAGE = re.compile(r"(\d{4})/(\d{2})/(\d{2})/.*/p(\d{5})/index\.html")


def audit_public(public: Path, count: int) -> tuple[int, float, int]:
    """(.html pages, MB written, post pages on another day than the post's Beijing day);
    SystemExit when a post has no page."""
    pages, size, wrong, seen = 0, 0, 0, set()
    for path in public.rglob("*"):
        if not path.is_file():
            continue
        size += path.stat().st_size
        if path.suffix != ".html":
            continue
        pages += 1
        match = _POST_PAGE.fullmatch(path.relative_to(public).as_posix())
        if match:
            index = int(match[4])
            seen.add(index)
            day = post_date(index).astimezone(BEIJING)
            wrong += (int(match[1]), int(match[2]), int(match[3])) != (day.year, day.month, day.day)
    if len(seen) != count:
        raise SystemExit(f"{count - len(seen)} of {count} posts have no page in {public}")
    return pages, size / 1e6, wrong


def bench(sizes: Sequence[int], variants: Sequence[Variant], keep: Path | None = None) -> list[Result]:
    templates = corpus_posts()
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-blog-", dir=keep))
    try:
        for count in sizes:
            site = work / f"site-{count}"
            make_site(site, count, templates)
            for variant in variants:
                configure(site, variant)
                seconds, cpu, peak = generate(site, variant)
                pages, public_mb, wrong = audit_public(site / "public", count)
                result = Result(
                    count, variant.name, round(seconds, 1), round(cpu, 1), round(peak), pages, round(public_mb), wrong
                )
                results.append(result)
                print(_row(result), flush=True)
            shutil.rmtree(site / "public", ignore_errors=True)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return results


_HEADER = (
    f"{'posts':>6} {'variant':<18} {'seconds':>8} {'cpu s':>7} {'peak MB':>8}"
    f" {'pages':>7} {'MB out':>7} {'wrong day':>9}"
)


def _row(r: Result) -> str:
    return (
        f"{r.posts:>6} {r.variant:<18} {r.seconds:>8.1f} {r.cpu_seconds:>7.1f} {r.peak_mb:>8.0f}"
        f" {r.pages:>7} {r.public_mb:>7.0f} {r.wrong_day:>9}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="posts per site, comma-separated")
    parser.add_argument("--variants", default="defaults,recommended", help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    parser.add_argument("--keep", type=Path, help="build the sites in this folder and keep them")
    args = parser.parse_args(argv)
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: expected whole numbers, comma-separated: {args.sizes!r}")
    if any(size < 1 for size in sizes):
        parser.error("--sizes: every size must be at least 1")
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if not (HEXO_DIR / "node_modules" / "hexo").is_dir():
        print("Hexo is not installed: run npm ci --prefix tests/hexo", file=sys.stderr)
        return 1
    print(_HEADER, flush=True)
    try:
        results = bench(sizes, [VARIANTS[name] for name in args.variants.split(",")], args.keep)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(result) for result in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
