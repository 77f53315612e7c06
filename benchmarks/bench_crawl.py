"""Whole-crawl throughput and memory, against a do-nothing Scrapy spider.

A replay proxy (tests/support/replay_proxy.py, in a thread of this process) serves
N distinct articles (the golden corpus pages cycled, each at its own
``https://finance.sina.com.cn/roll/2026-09-28/doc-i<publishid>.shtml``, each with its
own title) and a roll-API listing of them (section ``china``: pageid 155, lid 1686,
newest first, 50 per page).  Each run is its own process, started with the same
download settings:

    -s AUTOTHROTTLE_ENABLED=0 -s DOWNLOAD_DELAY=0 -s ROBOTSTXT_OBEY=0
    -s CONCURRENT_REQUESTS=16 -s CONCURRENT_REQUESTS_PER_DOMAIN=16

plus LOG_LEVEL=INFO and a log file.  The do-nothing spider also gets the project's standard
download settings (retries and retry codes, timeout, size limits, cookies, headers,
User-Agent, proxy; see DOWNLOAD_SETTING_PREFIXES) but stock Scrapy components: no
project code, so Scrapy's own RetryMiddleware, and Scrapy's default CONCURRENT_ITEMS.
The project crawls write posts with the project's defaults (HEXO_FSYNC on).  Runs, in
this order:

    do-nothing N/2, do-nothing N
                 ``scrapy runspider`` of a bare spider (written to a temp folder and run
                 from there, so the project's scrapy.cfg and settings are not picked up):
                 lists the same roll-API pages, downloads the same N/2 or N article URLs
                 through the same proxy, does nothing with the responses
    full N/2     ``scrapy crawl sina_finance -a sections=china -a pages=N/100``, fresh output
    full N       the same with pages=N/50, into another fresh output
    re-run N     the same command again over the N-article output (everything known)
    empty        the same command over a listing with zero items, fresh output
    images-local N   full N with HEXO_IMAGES=local: every image host of the pages is served
                 small JPEGs by the proxy (SINA_IMAGE_HOST_RATE=1000: the crawl's cost, not
                 the pacing; benchmarks/bench_images.py measures the pacing)
    cluster N    full N as the coordinator of a cluster: SINA_REDIS_URL of a redis-server
                 this benchmark starts on a free port (tests/support/redis_server.py),
                 SINA_HOST_RATE=1000, no worker spider (it fetches every article itself)
    2-parse-workers N   full N with SINA_PARSE_WORKERS=2

``--quick``: 200 articles, without the N/2, re-run and empty runs.  Printed: one table of
the cases at N articles (articles/s over the crawl's own time, the ratio to the do-nothing
spider of the same run, the ratio of wall rates, peak RSS and RSS over the do-nothing
spider, CPU seconds), then the targets; ``--details`` adds every run's figures.

Wall time is measured from process start to exit; ``crawl s`` is the crawl's own
``elapsed_time_seconds`` (from its stats).  Peak RSS is the crawl process's own
``ru_maxrss`` (its RSS high-water mark, read with ``os.wait4`` on that process) plus the
high-water marks (``VmHWM``, sampled every 5 ms) of its child processes, the parse workers
(a child between its fork and its exec still shows the crawl's own memory: not counted):
a sum of peaks, so never below the peak of the sum.  CPU is the crawl process's
user+system time, its parse workers' included; proxy CPU is this process's CPU time
during the run (the proxy is all it does meanwhile).

Checks (exit status 1 if one fails): N/2 and N posts written (N in each case), the proxy
saw exactly that many article requests, none in the re-run and the empty run, N/2 and N in
the do-nothing runs.  Targets (reported, not enforced): full crawl articles/s ≥ 0.9 x
do-nothing (0.75 at the least); peak
RSS ≤ do-nothing + 50 MB; peak RSS from N/2 to N growing no more than the do-nothing
spider's own from N/2 to N, plus 3 MB of run-to-run noise; re-run wall ≤ 1.2 x
empty-run wall.  The machine is shared: the 1-min load average is printed with the
figures, and CPU seconds are less sensitive to other work than wall times.

    .venv/bin/python benchmarks/bench_crawl.py [--articles 2000 | --quick] [--concurrency 16] [--json]
        [--details] [--keep] [--set NAME=VALUE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler import settings as project_settings  # noqa: E402
from crawler.sina.roll_api import API_REFERER, MAX_PAGE_SIZE, roll_api_url  # noqa: E402
from tests.support import rasters  # noqa: E402
from tests.support.redis_server import redis_problem, redis_server  # noqa: E402
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi, load_corpus  # noqa: E402
from tests.support.synthetic import LID, PAGEID, SECTION, synthetic_articles  # noqa: E402

ROLL_ACCEPT = "application/json, */*;q=0.1"  # what the spider sends to the roll API

# The project's settings that shape downloading, given to the do-nothing spider too
# (then overridden by the -s settings every run gets).  Only standard Scrapy settings
# whose value names no project code: the do-nothing spider runs stock Scrapy components
# (e.g. Scrapy's RetryMiddleware with the project's RETRY_TIMES and RETRY_HTTP_CODES).
DOWNLOAD_SETTING_PREFIXES = (
    "AUTOTHROTTLE_",
    "CONCURRENT_REQUESTS",
    "COOKIES_",
    "DEFAULT_REQUEST_HEADERS",
    "DNS",
    "DOWNLOAD_",
    "HTTPPROXY_",
    "LOG_LEVEL",
    "LOGSTATS_INTERVAL",
    "REDIRECT_",
    "RETRY_",
    "ROBOTSTXT_",
    "TELNETCONSOLE_",
    "TWISTED_REACTOR",
    "USER_AGENT",
)

NOOP_SPIDER = '''\
"""Do-nothing baseline: the same roll-API pages and article downloads, no processing."""

import json

import scrapy
from scrapy import signals

SETTINGS = {settings}


class DoNothingSpider(scrapy.Spider):
    name = "do_nothing"
    custom_settings = SETTINGS

    def __init__(self, api="", pages="1", stats_file="", **kwargs):
        super().__init__(**kwargs)
        self.api, self.pages, self.stats_file = api, int(pages), stats_file
        self.urls = []

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.dump_stats, signal=signals.engine_stopped)
        return spider

    def roll_request(self, page):
        return scrapy.Request(
            self.api.format(page=page),
            headers={{"Referer": {referer!r}, "Accept": {accept!r}}},
            callback=self.parse_roll,
            cb_kwargs={{"page": page}},
            dont_filter=True,
        )

    async def start(self):
        yield self.roll_request(1)

    def parse_roll(self, response, page):
        data = response.json()["result"]["data"]
        self.urls.extend(item["url"] for item in data)
        if page < self.pages and len(data) >= {page_size}:
            yield self.roll_request(page + 1)
            return
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse_article)

    def parse_article(self, response):
        return None

    def dump_stats(self):
        stats = dict(self.crawler.stats.get_stats())
        stats["bench/bot_name"] = self.crawler.settings.get("BOT_NAME")
        stats["bench/item_pipelines"] = self.crawler.settings.getdict("ITEM_PIPELINES")
        with open(self.stats_file, "w", encoding="utf-8") as out:
            json.dump(stats, out, default=str, indent=1, sort_keys=True)
'''


@dataclass
class Run:
    name: str
    articles: int  # articles the run is meant to download (0 for re-run and empty)
    returncode: int = 0
    wall_s: float = 0.0
    crawl_s: float | None = None  # elapsed_time_seconds of the crawl's stats
    peak_rss_mb: float = 0.0  # crawl_rss_mb + workers_rss_mb
    crawl_rss_mb: float = 0.0  # the crawl process's own peak
    workers_rss_mb: float = 0.0  # peaks of its child processes (parse workers), summed
    cpu_s: float = 0.0  # crawl process and its parse workers, user + system
    workers_cpu_s: float = 0.0  # of which its child processes (parse workers), last sampled
    proxy_cpu_s: float = 0.0  # this process (the proxy thread) during the run
    api_requests: int = 0
    article_requests: int = 0
    responses_200: int = 0
    posts_new: int | None = None
    post_files: int | None = None
    command: list[str] = field(default_factory=list)
    cwd: str = ""
    log: str = ""

    @property
    def rate_wall(self) -> float:
        return self.articles / self.wall_s if self.articles and self.wall_s else 0.0

    @property
    def rate_crawl(self) -> float:
        return self.articles / self.crawl_s if self.articles and self.crawl_s else 0.0


# --- the served site ------------------------------------------------------------------


# --- running one crawl -------------------------------------------------------------------


def download_settings(concurrency: int) -> dict[str, str]:
    """The -s settings every run gets, the project's crawls and the do-nothing spider."""
    return {
        "AUTOTHROTTLE_ENABLED": "0",
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS": str(concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "ROBOTSTXT_OBEY": "0",
        "LOG_LEVEL": "INFO",
        "LOG_FILE_APPEND": "False",
    }


def project_download_settings() -> dict[str, Any]:
    """The download settings of crawler/settings.py (for the do-nothing spider)."""
    chosen = {}
    for name in dir(project_settings):
        value = getattr(project_settings, name)
        if name.isupper() and name.startswith(DOWNLOAD_SETTING_PREFIXES) and "crawler." not in repr(value):
            chosen[name] = value
    return chosen


def child_env(proxy_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in ("no_proxy", "all_proxy") and not key.startswith("SCRAPY_")
    }
    env.update(http_proxy=proxy_url, https_proxy=proxy_url, HTTP_PROXY=proxy_url, HTTPS_PROXY=proxy_url)
    return env


def run_process(run: Run, command: list[str], cwd: Path, out_path: Path, env: dict[str, str], timeout: float) -> None:
    """Start, wait with os.wait4 (that process's own rusage), fill wall/RSS/CPU.

    stdout and stderr go to ``out_path``."""
    run.command, run.cwd = command, str(cwd)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = start + timeout
        children: dict[str, int] = {}  # pid -> peak RSS in kB
        children_cpu: dict[str, int] = {}  # pid -> user + system clock ticks, last seen
        while True:
            sample_children(process.pid, children, children_cpu)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        run.wall_s = time.perf_counter() - start
    process.returncode = run.returncode = os.waitstatus_to_exitcode(status)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    run.crawl_rss_mb = usage.ru_maxrss / 1024  # Linux: kB
    run.workers_rss_mb = sum(children.values()) / 1024
    run.workers_cpu_s = sum(children_cpu.values()) / os.sysconf("SC_CLK_TCK")
    run.peak_rss_mb = run.crawl_rss_mb + run.workers_rss_mb
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.proxy_cpu_s = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    run.log = out_path.read_text(encoding="utf-8", errors="replace")


def sample_children(pid: int, peaks: dict[str, int], cpu: dict[str, int]) -> None:
    """Record the peak RSS (VmHWM, kB) and the CPU so far (user + system clock ticks) of
    each child process of pid now alive (its last 5 ms of CPU may be missed).

    A child not yet past its exec (the parse worker being started, a helper program that
    platform or ctypes runs) still shares the crawl's memory and reports the crawl's own
    high-water mark: it is recognised by its command line, the crawl's, and skipped (the
    exec starts a fresh high-water mark)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        own_command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    for child in children:
        try:
            if Path(f"/proc/{child}/cmdline").read_bytes() == own_command:
                continue  # forked, not yet exec'd
            status = Path(f"/proc/{child}/status").read_text()
            # /proc/PID/stat: fields 14 and 15 (utime, stime) come after the ")" ending the name.
            times = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
        except OSError:
            continue
        cpu[child] = max(cpu.get(child, 0), int(times[0]) + int(times[1]))
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[child] = max(peaks.get(child, 0), int(line.split()[1]))


def count_posts(posts: Path) -> int:
    return sum(1 for path in posts.rglob("*.md") if path.is_file()) if posts.exists() else 0


# --set NAME=VALUE: settings added to the project's crawls (to measure a variant).
EXTRA_SETTINGS: dict[str, str] = {}


def full_crawl(
    name: str,
    proxy: ReplayProxy,
    work: Path,
    articles: int,
    pages: int,
    concurrency: int,
    timeout: float,
    case_settings: dict[str, str] | None = None,
) -> Run:
    work.mkdir(parents=True, exist_ok=True)
    stats_file = work / "stats.json"
    stats_file.unlink(missing_ok=True)
    settings = {
        "HEXO_POSTS_DIR": str(work / "posts"),
        "STATE_DB": str(work / "state.sqlite"),
        "MANIFEST": str(work / "manifest.jsonl"),
        "SINA_STATS_FILE": str(stats_file),
        "LOG_FILE": str(work / f"{name}.log"),
        **download_settings(concurrency),
        **(case_settings or {}),
        **EXTRA_SETTINGS,
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "sina_finance", "-a", f"sections={SECTION}"]
    command += ["-a", f"pages={pages}"]
    run = Run(name, articles)
    stats = launch(run, command, settings, ROOT, work, proxy, timeout)
    run.posts_new = int(stats.get("sina/posts/new", 0))
    run.post_files = count_posts(work / "posts")
    return run


def launch(
    run: Run, command: list[str], settings: dict[str, Any], cwd: Path, work: Path, proxy: ReplayProxy, timeout: float
) -> dict[str, Any]:
    """Run command with ``-s`` settings (LOG_FILE ``work/<run name>.log``, stats in
    ``work/stats.json``); fill the run's figures; return the crawl's stats."""
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    proxy.reset_log()
    run_process(run, command, cwd, work / f"{run.name}.out", child_env(proxy.url), timeout)
    run.log = _read(work / f"{run.name}.log") + run.log
    stats_file = work / "stats.json"
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    run.crawl_s = stats.get("elapsed_time_seconds")
    run.responses_200 = int(stats.get("downloader/response_status_count/200", 0))
    run.api_requests = proxy.count("/api/roll/get")
    run.article_requests = proxy.count("/doc-i")
    return stats


def do_nothing_crawl(
    proxy: ReplayProxy,
    work: Path,
    articles: int,
    pages: int,
    concurrency: int,
    timeout: float,
    name: str = "do-nothing",
) -> Run:
    work.mkdir(parents=True, exist_ok=True)
    spider_file = work / "do_nothing_spider.py"
    spider_file.write_text(
        NOOP_SPIDER.format(
            settings=repr(project_download_settings()),
            referer=API_REFERER,
            accept=ROLL_ACCEPT,
            page_size=MAX_PAGE_SIZE,
        ),
        encoding="utf-8",
    )
    stats_file = work / "stats.json"
    api = roll_api_url(PAGEID, LID, 1, MAX_PAGE_SIZE)
    assert api.endswith("&page=1"), api
    api = api.removesuffix("1") + "{page}"
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider_file)]
    command += ["-a", f"api={api}", "-a", f"pages={pages}", "-a", f"stats_file={stats_file}"]
    run = Run(name, articles)
    settings = {"LOG_FILE": str(work / f"{name}.log"), **download_settings(concurrency)}
    stats = launch(run, command, settings, work, work, proxy, timeout)
    if stats.get("bench/bot_name") != "scrapybot" or stats.get("bench/item_pipelines"):
        raise SystemExit(f"do-nothing spider picked up project settings: {stats.get('bench/bot_name')!r}")
    return run


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


# --- report ------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def cpu_line(noop: Run, full: Run) -> str:
    """Where the CPU goes, per article: on 2 cores the crawl process, its parse worker and
    the benchmark's proxy share them (the do-nothing spider and the proxy do not contend),
    so the throughput ratio follows the total; with a core each, the busier process sets it."""

    def per_article(seconds: float, run: Run) -> float:
        return seconds * 1000 / run.articles if run.articles else 0.0

    own = full.cpu_s - full.workers_cpu_s
    bound = noop.cpu_s / own if own > 0 else 0.0
    total_ratio = (noop.cpu_s + noop.proxy_cpu_s) / (full.cpu_s + full.proxy_cpu_s) if full.cpu_s else 0.0
    return (
        f"CPU per article (ms): do-nothing {per_article(noop.cpu_s, noop):.2f} + proxy "
        f"{per_article(noop.proxy_cpu_s, noop):.2f}; full: crawl process {per_article(own, full):.2f} + parse worker "
        f"{per_article(full.workers_cpu_s, full):.2f} + proxy {per_article(full.proxy_cpu_s, full):.2f}. "
        f"Total CPU do-nothing/full = {total_ratio:.2f}; do-nothing/crawl process alone = {bound:.2f} "
        "(the ratio's bound with a core for each process)"
    )


def table(runs: list[Run]) -> str:
    head = (
        f"{'run':<12} {'articles':>8} {'api req':>7} {'doc req':>7} {'posts':>6} {'wall s':>7} {'crawl s':>7} "
        f"{'art/s wall':>10} {'art/s crawl':>11} {'peak RSS MB':>11} {'(workers)':>9} {'CPU s':>6} "
        f"{'proxy CPU s':>11} {'worker CPU s':>12}"
    )
    lines = [head, "-" * len(head)]
    for run in runs:
        lines.append(
            f"{run.name:<12} {run.articles:>8} {run.api_requests:>7} {run.article_requests:>7} "
            f"{'-' if run.post_files is None else run.post_files:>6} {run.wall_s:>7.2f} {_fmt(run.crawl_s):>7} "
            f"{_fmt(run.rate_wall or None, 0):>10} {_fmt(run.rate_crawl or None, 0):>11} "
            f"{run.peak_rss_mb:>11.1f} {run.workers_rss_mb:>9.1f} {run.cpu_s:>6.2f} {run.proxy_cpu_s:>11.2f} "
            f"{run.workers_cpu_s:>12.2f}"
        )
    return "\n".join(lines)


IMAGE_HOST = re.compile(rb"""<img[^>]+src=["']?(?:https?:)?//([a-z0-9.-]+\.sinaimg\.cn|img\.mix\.sina\.com\.cn)/""")


def _numbered_jpeg(request: ProxyRequest) -> ProxyResponse:
    """A distinct small JPEG per image URL."""
    return ProxyResponse(200, rasters.JPEG + request.url.encode(), {"Content-Type": "image/jpeg"})


def serve_images(proxy: ReplayProxy, pages: list[tuple[str, bytes]]) -> int:
    """Answer every image host the pages' <img> elements name with small JPEGs; how many hosts."""
    hosts = {host.decode() for _, page in pages[:50] for host in IMAGE_HOST.findall(page)}
    for host in hosts:
        for scheme in ("https", "http"):
            proxy.add_handler(f"{scheme}://{host}/", _numbered_jpeg)
    return len(hosts)


# The cases of the summary table beyond the default crawl: (name, settings).  Politeness is
# off in every run (download_settings), and so it is for images and the cluster's budget:
# this measures the crawl's own cost, not the pacing.
IMAGES_LOCAL = {"HEXO_IMAGES": "local", "SINA_IMAGE_HOST_RATE": "1000"}
CLUSTER = {"SINA_HOST_RATE": "1000"}  # + SINA_REDIS_URL of the benchmark's own redis-server
TWO_WORKERS = {"SINA_PARSE_WORKERS": "2"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000, help="articles served (multiple of 100)")
    parser.add_argument("--quick", action="store_true", help="200 articles, no N/2 runs, no re-run and empty run")
    parser.add_argument("--concurrency", type=int, default=16, help="CONCURRENT_REQUESTS(_PER_DOMAIN)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (instead of the table)")
    parser.add_argument("--details", action="store_true", help="also print every run's figures")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, posts)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting for the project's crawls"
    )
    args = parser.parse_args()
    EXTRA_SETTINGS.update(item.split("=", 1) for item in args.set)
    if args.quick:
        args.articles = 200
    if args.articles < 100 or args.articles % (2 * MAX_PAGE_SIZE):
        parser.error("--articles: a multiple of 100")
    total, half = args.articles, args.articles // 2

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    problem = redis_problem()
    if problem:
        raise SystemExit(f"the cluster case needs redis-server: {problem}")
    load_before = os.getloadavg()[0]
    cases = load_corpus(args.corpus)
    items, pages = synthetic_articles(cases, total)
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    key = (PAGEID, LID)
    runs: list[Run] = []
    try:
        with ReplayProxy() as proxy, redis_server() as redis_url:
            for url, page in pages:
                proxy.add(url, page)
            image_hosts = serve_images(proxy, pages)
            api = RollApi({key: items}).install(proxy)
            progress(
                f"proxy {proxy.url}: {total} articles from {len(cases)} corpus pages, images from {image_hosts} "
                f"hosts; redis {redis_url.rsplit('@', 1)[-1]}; work folder {work}"
            )
            runtime = (args.concurrency, args.timeout)
            pages_half, pages_total = half // MAX_PAGE_SIZE, total // MAX_PAGE_SIZE
            steps: list[tuple[str, Callable[[], Run]]] = []
            if not args.quick:
                steps.append(
                    (
                        f"do-nothing-{half}",
                        lambda: do_nothing_crawl(
                            proxy, work / "do-nothing-half", half, pages_half, *runtime, name=f"do-nothing-{half}"
                        ),
                    )
                )
            steps.append(
                ("do-nothing", lambda: do_nothing_crawl(proxy, work / "do-nothing", total, pages_total, *runtime))
            )
            if not args.quick:
                steps.append(
                    (
                        f"full-{half}",
                        lambda: full_crawl(f"full-{half}", proxy, work / "half", half, pages_half, *runtime),
                    )
                )
            steps.append(
                (
                    f"full-{total}",
                    lambda: full_crawl(f"full-{total}", proxy, work / "all", total, pages_total, *runtime),
                )
            )
            if not args.quick:
                steps += [
                    (
                        f"re-run-{total}",
                        lambda: full_crawl(f"re-run-{total}", proxy, work / "all", 0, pages_total, *runtime),
                    ),
                    ("empty", lambda: empty_crawl(proxy, api, work / "empty", pages_total, *runtime)),
                ]
            variants = [
                ("images-local", IMAGES_LOCAL),
                ("cluster", {**CLUSTER, "SINA_REDIS_URL": redis_url, "SINA_CLUSTER": "bench"}),
                ("2-parse-workers", TWO_WORKERS),
            ]
            for variant, variant_settings in variants:
                name = f"{variant}-{total}"

                def step(name: str = name, variant: str = variant, extra: dict[str, str] = variant_settings) -> Run:
                    return full_crawl(name, proxy, work / variant, total, pages_total, *runtime, extra)

                steps.append((name, step))
            for name, run_step in steps:
                progress(f"running {name} ...")
                run = run_step()
                progress(f"  {name}: exit {run.returncode}, {run.wall_s:.2f} s, peak RSS {run.peak_rss_mb:.1f} MB")
                runs.append(run)
        loads = (load_before, os.getloadavg()[0])
        report, problems = summarise(runs, half, total, args.concurrency, loads, quick=args.quick)
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=1))
        else:
            print(cases_table(runs, total))
            print()
            if args.details:
                print(table(runs))
                print()
            for line in report["summary"]:
                print(line)
        for problem in problems:
            progress(f"CHECK FAILED: {problem}")
        if problems:
            progress(f"logs kept in {work}")
            args.keep = True
        return 1 if problems else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


CASE_NAMES = {
    "full": "default (HEXO_IMAGES=remote, no cluster)",
    "images-local": "HEXO_IMAGES=local",
    "cluster": "cluster on (coordinator + redis)",
    "2-parse-workers": "SINA_PARSE_WORKERS=2",
}


def cases_table(runs: list[Run], total: int) -> str:
    """The one table: each case of N articles against the do-nothing spider of this run."""
    by_name = {run.name: run for run in runs}
    noop = by_name["do-nothing"]
    head = (
        f"{'case':<42} {'articles/s':>10} {'vs do-nothing':>13} {'wall ratio':>10} {'peak RSS MB':>11} "
        f"{'RSS over MB':>11} {'CPU s':>6}"
    )
    lines = [head, "-" * len(head)]
    lines.append(
        f"{'do-nothing spider (stock Scrapy)':<42} {noop.rate_crawl:>10.0f} {1:>13.2f} {1:>10.2f} "
        f"{noop.peak_rss_mb:>11.1f} {0:>+11.1f} {noop.cpu_s:>6.2f}"
    )
    for prefix, label in CASE_NAMES.items():
        run = by_name.get(f"{prefix}-{total}")
        if run is None:
            continue
        ratio = run.rate_crawl / noop.rate_crawl if noop.rate_crawl else 0.0
        wall = run.rate_wall / noop.rate_wall if noop.rate_wall else 0.0
        lines.append(
            f"{label:<42} {run.rate_crawl:>10.0f} {ratio:>13.2f} {wall:>10.2f} {run.peak_rss_mb:>11.1f} "
            f"{run.peak_rss_mb - noop.peak_rss_mb:>+11.1f} {run.cpu_s:>6.2f}"
        )
    return "\n".join(lines)


def empty_crawl(proxy: ReplayProxy, api: RollApi, work: Path, pages: int, concurrency: int, timeout: float) -> Run:
    key = (PAGEID, LID)
    listed = api.listings[key]
    api.listings[key] = []
    try:
        return full_crawl("empty", proxy, work, 0, pages, concurrency, timeout)
    finally:
        api.listings[key] = listed


def summarise(
    runs: list[Run], half: int, total: int, concurrency: int, loads: tuple[float, float], *, quick: bool = False
) -> tuple[dict[str, Any], list[str]]:
    by_name = {run.name: run for run in runs}
    noop, full = by_name["do-nothing"], by_name[f"full-{total}"]
    variants = [by_name[f"{case}-{total}"] for case in CASE_NAMES if case != "full" and f"{case}-{total}" in by_name]

    problems = [f"{run.name}: exit code {run.returncode}" for run in runs if run.returncode]
    posting = [(full, total), *((run, total) for run in variants)]
    if not quick:
        posting.append((by_name[f"full-{half}"], half))
    for run, expected in posting:
        if run.post_files != expected or run.posts_new != expected:
            problems.append(f"{run.name}: {run.post_files} post files, sina/posts/new={run.posts_new}, not {expected}")
        if run.article_requests != expected:
            problems.append(f"{run.name}: proxy saw {run.article_requests} article requests, not {expected}")
    noops = [(noop, total)] if quick else [(noop, total), (by_name[f"do-nothing-{half}"], half)]
    for run, articles in noops:
        if run.article_requests != articles or run.responses_200 != articles + run.api_requests:
            problems.append(f"{run.name}: {run.article_requests} article requests, {run.responses_200} answers 200")

    ratio_wall = full.rate_wall / noop.rate_wall if noop.rate_wall else 0.0
    ratio_crawl = full.rate_crawl / noop.rate_crawl if noop.rate_crawl else 0.0
    rss_over = full.peak_rss_mb - noop.peak_rss_mb

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    summary = [
        f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.platform()}; "
        f"1-min load average {loads[0]:.2f} before, {loads[1]:.2f} after (other work on the machine skews figures)",
        f"settings (every run): AutoThrottle off, DOWNLOAD_DELAY=0, CONCURRENT_REQUESTS="
        f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}, ROBOTSTXT_OBEY=0, project retries/timeouts; "
        f"images-local: SINA_IMAGE_HOST_RATE=1000; cluster: SINA_HOST_RATE=1000, no worker spider",
        "articles/s: articles over the crawl's own elapsed_time_seconds; wall ratio: over process start to exit; "
        "CPU s: the crawl process and its parse workers, user + system",
        f"throughput, {total} articles: full {full.rate_crawl:.0f}/s vs do-nothing {noop.rate_crawl:.0f}/s "
        f"= {ratio_crawl:.2f} [target >= 0.9: {verdict(ratio_crawl >= 0.9)}; at least 0.75: "
        f"{verdict(ratio_crawl >= 0.75)}]; wall: {full.rate_wall:.0f}/s vs {noop.rate_wall:.0f}/s = {ratio_wall:.2f}",
        cpu_line(noop, full),
        f"RSS over do-nothing: {rss_over:+.1f} MB ({full.crawl_rss_mb:.1f} + parse workers "
        f"{full.workers_rss_mb:.1f}) [target <= 50 MB: {verdict(rss_over <= 50)}]",
    ]
    ratios: dict[str, float] = {
        "articles_per_s_full_vs_do_nothing_wall": ratio_wall,
        "articles_per_s_full_vs_do_nothing_crawl": ratio_crawl,
        "rss_full_minus_do_nothing_mb": rss_over,
    }
    for run in variants:
        ratios[f"articles_per_s_{run.name}_vs_do_nothing_crawl"] = (
            run.rate_crawl / noop.rate_crawl if noop.rate_crawl else 0.0
        )
        ratios[f"rss_{run.name}_minus_do_nothing_mb"] = run.peak_rss_mb - noop.peak_rss_mb
    if not quick:
        small, noop_small = by_name[f"full-{half}"], by_name[f"do-nothing-{half}"]
        rerun, empty = by_name[f"re-run-{total}"], by_name["empty"]
        if rerun.article_requests != 0:
            problems.append(f"re-run: proxy saw {rerun.article_requests} article requests, not 0")
        if rerun.post_files != total:
            problems.append(f"re-run: {rerun.post_files} post files, not {total}")
        if empty.article_requests != 0 or empty.post_files != 0:
            problems.append(f"empty: {empty.article_requests} article requests, {empty.post_files} posts")
        rss_growth = full.peak_rss_mb - small.peak_rss_mb
        noop_growth = noop.peak_rss_mb - noop_small.peak_rss_mb
        rerun_ratio = rerun.wall_s / empty.wall_s if empty.wall_s else 0.0
        summary += [
            f"RSS {total} vs {half}: full {rss_growth:+.1f} MB, do-nothing {noop_growth:+.1f} MB [target: no more "
            f"than do-nothing's + 3 MB (run-to-run noise): {verdict(rss_growth <= noop_growth + 3)}]",
            f"re-run {rerun.wall_s:.2f} s ({rerun.article_requests} article requests) / empty run "
            f"{empty.wall_s:.2f} s = {rerun_ratio:.2f} [target <= 1.2: {verdict(rerun_ratio <= 1.2)}]",
        ]
        ratios.update(
            rss_full_minus_half_mb=rss_growth,
            rss_do_nothing_full_minus_half_mb=noop_growth,
            rerun_wall_over_empty_wall=rerun_ratio,
        )
    summary.append("checks: " + ("all passed" if not problems else "; ".join(problems)))
    report = {
        "machine": {
            "node": platform.node(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min_before_after": list(loads),
        },
        "articles": total,
        "concurrency": concurrency,
        "do_nothing_settings": project_download_settings(),
        "runs": [{k: v for k, v in asdict(run).items() if k not in ("log", "command")} for run in runs],
        "ratios": ratios,
        "problems": problems,
        "summary": summary,
    }
    return report, problems


if __name__ == "__main__":
    raise SystemExit(main())
