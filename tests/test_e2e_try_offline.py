"""``scripts/try-offline [DIR]``, as a newcomer runs it: the real crawl over the bundled
pages writes every golden post byte for byte (tests/corpus, tests/corpus-kinds), the
manifest and the run summary, in well under a minute, and says how to look at them in
Hexo; a folder it did not write is never touched."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CASES, REPO
from tests.support.crawl import files_under
from tests.support.kinds import KIND_CASES
from tests.support.try_offline import MARKER

pytestmark = pytest.mark.e2e

SCRIPT = REPO / "scripts" / "try-offline"


def _try(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=90)
    return done, time.monotonic() - started


def test_try_offline_writes_the_bundled_posts(tmp_path: Path) -> None:
    done, elapsed = _try("out", cwd=tmp_path)  # DIR relative to where it was started
    out = tmp_path / "out"
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 60, f"try-offline took {elapsed:.1f} s"
    print(f"scripts/try-offline took {elapsed:.1f} s")  # shown with -s: the figure the issue asks for
    posts = files_under(out / "posts")
    expected = {case.expected_path: case.expected for case in CASES}
    expected.update({case.expected_path: case.expected for case in KIND_CASES.values()})
    for path, content in expected.items():
        assert posts.get(path) == content, f"{path} missing or not the golden post"
    # The corpus's and the kinds' goldens, and the feed's copy of a golden article listed by china first.
    assert len(posts) == len(expected) == 16
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(line["path"] for line in manifest) == sorted(expected)
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "Run summary (finished): new=16 updated=0 unchanged=0 (not fetched: 0)" in summary
    assert "Run summary, section china: listed=11 known=0 new=11" in summary
    assert re.search(r"16 posts in .*out/posts \(\d+\.\d s; crawl exit status 0\)", done.stdout)
    assert "npx hexo init blog" in done.stdout and f"cp -r {out / 'posts'}/. blog/source/_posts/" in done.stdout
    assert "TZ=Asia/Shanghai npx hexo server" in done.stdout

    again, _ = _try(str(out), cwd=tmp_path)  # an earlier try's output is replaced, not added to
    assert again.returncode == 0, again.stdout + again.stderr
    assert files_under(out / "posts") == posts
    assert "new=16 updated=0 unchanged=0" in (out / "summary.txt").read_text(encoding="utf-8")


def test_try_offline_never_writes_into_a_folder_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "blog"
    mine.mkdir()
    (mine / "notes.md").write_text("mine", encoding="utf-8")
    done, _ = _try(str(mine), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{mine} is not empty and no try-offline wrote it (no {MARKER} in it)" in done.stderr
    assert sorted(path.name for path in mine.iterdir()) == ["notes.md"]
