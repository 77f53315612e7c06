"""``scripts/try-offline [DIR]``: the real ``scrapy crawl sina_finance``, on a machine without
internet, over the real pages bundled with the tests (the golden corpus, tests/corpus/, and
the other post kinds, tests/corpus-kinds/), served by the replay proxy the end-to-end tests
use.  The posts, the state, the manifest, the log and the run summary go to DIR; then it
says how to look at the posts in Hexo.

Invariant: nothing here is a second crawler.  The crawl is the one a test runs
(tests/support/crawl.py: crawl_command), and the pages and listings are served as the tests
serve them (serve_corpus, serve_kinds); DIR is written only when it is empty, missing, or
the output of an earlier try (which is replaced).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CASES
from tests.support.crawl import REPO, crawl_command
from tests.support.kinds import KIND_SECTIONS, serve_kinds
from tests.support.replay_proxy import ReplayProxy, serve_corpus

DEFAULT_DIR = Path("try-offline-out")
#: A file in DIR that says it is a try's output, and may be replaced by the next try.
MARKER = ".try-offline"
SECTIONS = ("china", *KIND_SECTIONS)  # the corpus is listed by section china's roll API (155/1686)
SUMMARY = "summary.txt"
TIMEOUT = 120  # seconds; a try takes a few


class NotOurFolder(Exception):
    """DIR holds something that no try-offline wrote."""


def prepare(folder: Path) -> None:
    """An empty DIR to write into: made, or emptied when an earlier try wrote it."""
    if folder.exists() and not folder.is_dir():
        raise NotOurFolder(f"{folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise NotOurFolder(
                f"{folder} is not empty and no try-offline wrote it (no {MARKER} in it): give an empty or new folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by scripts/try-offline; the next try replaces this folder\n")


def summary_lines(log: str) -> list[str]:
    """The run summary the crawl logged at its end (crawler.extensions.runsummary)."""
    return [line.split("] INFO: ", 1)[-1] for line in log.splitlines() if "Run summary" in line]


def crawl(folder: Path) -> int:
    """The crawl of every bundled page into ``folder``; its exit status."""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES)
        serve_kinds(proxy)
        command, environment = crawl_command(
            proxy.url, folder, f"sections={','.join(SECTIONS)}", settings={"HEXO_FSYNC": "False"}
        )
        done = subprocess.run(command, cwd=REPO, env=environment, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    return done.returncode


def hexo_how_to(folder: Path) -> str:
    posts = folder / "posts"
    return f"""
To read them as a blog (Node.js 18 or later; `npx hexo init` downloads Hexo once):

    npx hexo init blog
    cp -r {posts}/. blog/source/_posts/
    cd blog && TZ=Asia/Shanghai npx hexo server

and open http://localhost:4000.  Leave `timezone` in blog/_config.yml empty: each post's
date is written in GMT, and Hexo would shift a dated post by the `timezone` it is given.
TZ=Asia/Shanghai shows the dates in Beijing time, as Sina does.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/try-offline",
        description="Crawl the real Sina pages bundled with the tests, without internet, into DIR.",
    )
    parser.add_argument(
        "dir", nargs="?", type=Path, default=DEFAULT_DIR, help=f"output folder (default: {DEFAULT_DIR})"
    )
    folder = parser.parse_args(argv).dir.absolute()
    try:
        prepare(folder)
    except NotOurFolder as exc:
        print(f"try-offline: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    status = crawl(folder)
    elapsed = time.monotonic() - started
    log_file = folder / "crawl.log"
    lines = summary_lines(log_file.read_text(encoding="utf-8") if log_file.exists() else "")
    (folder / SUMMARY).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    posts = sorted((folder / "posts").rglob("*.md"))
    print("\n".join(lines))
    print(
        f"\n{len(posts)} posts in {folder / 'posts'} ({elapsed:.1f} s; crawl exit status {status})\n"
        f"manifest {folder / 'manifest.jsonl'}, run summary {folder / SUMMARY}, log {log_file}"
    )
    if status != 0:
        print(f"try-offline: the crawl failed (exit status {status}); see {log_file}", file=sys.stderr)
        return status
    print(hexo_how_to(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
