"""Cluster throughput under a slow Sina, with one shared host budget.

A real ``redis-server`` (Debian's, on a free port) and a replay proxy (in a thread of this
process) that answers each article page after ``--latency`` seconds (default 1 s), N
synthetic articles (tests/support/synthetic.py; section ``china``).  For each worker count
(default 1, 2, 3): the workers are started (``scrapy crawl sina_finance_worker``) and
waited for, then the coordinator (``scrapy crawl sina_finance``) runs to the end, all with

    -s SINA_HOST_RATE=<limit, default 5> -s CONCURRENT_REQUESTS_PER_DOMAIN=<connections, 2>
    -s AUTOTHROTTLE_ENABLED=0 -s DOWNLOAD_DELAY=0

The coordinator fetches articles too, so ``fetchers`` = workers + 1, and the expected rate is

    expected = min(limit, fetchers x connections / latency)      articles per second

``articles/s`` is N over the article window: from the first article request the proxy saw
to the last one's answer (its arrival + latency).  ``busiest 1 s`` is the largest number of
requests to the article host (robots.txt included) inside any 1-second window, which must
not exceed the limit + 1.

Checks (exit status 1 if one fails): N posts written, each article fetched exactly once,
no article lost, busiest 1 s <= limit + 1.  Target (reported): articles/s >= 0.9 x expected
for 2 and 3 workers.

    .venv/bin/python benchmarks/bench_cluster.py [--articles 150] [--workers 1,2,3]
        [--limit 5] [--latency 1.0] [--connections 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from crawler.cluster.protocol import ClusterKeys  # noqa: E402
from tests.support.crawl import files_under, finished_crawl, run_crawl, start_crawl  # noqa: E402
from tests.support.redis_server import redis_problem, redis_server  # noqa: E402
from tests.support.replay_proxy import CorpusCase, ReplayProxy, busiest_window, load_corpus  # noqa: E402
from tests.support.synthetic import SECTION, serve_synthetic  # noqa: E402

ARTICLE_HOST = "://finance.sina.com.cn/"
TARGET = 0.9  # of the expected rate, for 2 and 3 workers


@dataclass
class Run:
    workers: int
    expected: float  # articles/s
    rate: float = 0.0  # articles/s measured
    busiest: int = 0  # requests to the article host in the busiest 1-s window
    wall: float = 0.0  # the coordinator's process, start to exit
    posts: int = 0
    fetched: int = 0  # article requests the proxy saw
    distinct: int = 0
    lost: int = 0
    by_process: str = ""  # articles fetched by the coordinator / each worker
    problems: str = ""


def one_run(work: Path, redis_url: str, cases: list[CorpusCase], workers: int, args: argparse.Namespace) -> Run:
    name = f"bench-{workers}"
    settings = {
        "SINA_REDIS_URL": redis_url,
        "SINA_CLUSTER": name,
        "SINA_HOST_RATE": str(args.limit),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(args.connections),
        "AUTOTHROTTLE_ENABLED": "0",
        "DOWNLOAD_DELAY": "0",
    }
    expected = min(args.limit, (workers + 1) * args.connections / args.latency)
    run = Run(workers, expected)
    client, keys = redis.Redis.from_url(redis_url), ClusterKeys(name)
    with ReplayProxy() as proxy:
        serve_synthetic(proxy, cases, args.articles, delay=args.latency)
        processes = [
            start_crawl(proxy.url, work / f"worker{n}", spider="sina_finance_worker", settings=settings)
            for n in range(workers)
        ]
        end = time.monotonic() + 60
        while len(list(client.scan_iter(match=keys.workers))) < workers:
            if time.monotonic() > end:
                raise SystemExit(f"bench_cluster: {workers} workers not up within 60 s")
            time.sleep(0.05)
        started = time.monotonic()
        pages = -(-args.articles // 50)
        coordinator = run_crawl(
            proxy.url, work / "coordinator", f"sections={SECTION}", f"pages={pages}", settings=settings, timeout=1800
        )
        run.wall = time.monotonic() - started
        answered = [finished_crawl(process, work / f"worker{n}", timeout=120) for n, process in enumerate(processes)]
        arrivals = proxy.arrivals("/doc-i")
        fetches = Counter(url for url in proxy.urls() if "/doc-i" in url)
        run.busiest = busiest_window(proxy.arrivals(ARTICLE_HOST))
    if coordinator.returncode != 0:
        run.problems += f"coordinator exit {coordinator.returncode}; "
    if arrivals:
        run.rate = len(arrivals) / (max(arrivals) + args.latency - min(arrivals))
    run.posts = sum(1 for path in files_under(work / "coordinator" / "posts") if path.endswith(".md"))
    run.fetched, run.distinct = sum(fetches.values()), len(fetches)
    run.lost = coordinator.stat("sina/cluster/lost")
    run.by_process = " / ".join(
        str(n) for n in [coordinator.stat("sina/cluster/taken")] + [w.stat("sina/cluster/answers") for w in answered]
    )
    if run.posts != args.articles:
        run.problems += f"{run.posts} posts of {args.articles}; "
    if run.fetched != args.articles or run.distinct != args.articles:
        run.problems += f"{run.fetched} fetches of {run.distinct} articles; "
    if run.lost:
        run.problems += f"{run.lost} lost; "
    if run.busiest > args.limit + 1:
        run.problems += f"busiest second {run.busiest} > limit + 1; "
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--workers", default="1,2,3", help="worker counts, comma-separated")
    parser.add_argument("--limit", type=float, default=5.0, help="SINA_HOST_RATE")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each article page answers")
    parser.add_argument("--connections", type=int, default=2, help="CONCURRENT_REQUESTS_PER_DOMAIN per process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problem = redis_problem()
    if problem:
        print(f"bench_cluster: {problem}", file=sys.stderr)
        return 2
    cases = load_corpus(ROOT / "tests" / "corpus")
    runs = []
    with redis_server() as url, tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for workers in (int(n) for n in args.workers.split(",")):
            print(f"... {workers} worker(s)", file=sys.stderr, flush=True)
            runs.append(one_run(Path(tmp) / f"w{workers}", url, cases, workers, args))
    if args.json:
        print(json.dumps([asdict(run) for run in runs], indent=2))
    else:
        print(
            f"{args.articles} articles, page latency {args.latency} s, limit {args.limit:g}/s per host, "
            f"{args.connections} connections per process; load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"{'workers':>7} {'expected/s':>10} {'articles/s':>10} {'ratio':>6} {'busiest 1 s':>11} "
            f"{'wall s':>7} {'coordinator / workers':>22}  problems"
        )
        for run in runs:
            ratio = run.rate / run.expected if run.expected else 0
            print(
                f"{run.workers:>7} {run.expected:>10.2f} {run.rate:>10.2f} {ratio:>6.2f} {run.busiest:>11} "
                f"{run.wall:>7.1f} {run.by_process:>22}  {run.problems or '-'}"
            )
        for run in runs:
            if run.workers in (2, 3):
                met = run.rate >= TARGET * run.expected
                print(f"target {run.workers} workers >= {TARGET} x expected: {'met' if met else 'MISSED'}")
    return 1 if any(run.problems for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
