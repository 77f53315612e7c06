"""The in-repo copies of ../shared: complete, and identical to ../shared where it exists.

tests/corpus/, tests/recorded/, docs/hexo-post.md and docs/sina-site.md are copies of
../shared/corpus/, ../shared/recorded/ and ../shared/spec/*.md, made by
scripts/sync-corpus, so that a plain clone runs every test.  This module is the only one
that reads ../shared: CI runs with ../shared beside the clone, so a change made there and
not synced fails here, naming the file.  Without ../shared (a user's clone) the drift test
passes after checking that the copies are all there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CASES, CORPUS, RECORDED, REPO

SHARED = REPO.parent / "shared"
SYNC = REPO / "scripts" / "sync-corpus"
#: (source under ../shared, its copy in the repository)
MIRRORS = (
    ("corpus", CORPUS),
    ("recorded", RECORDED),
    ("spec/hexo-post.md", REPO / "docs" / "hexo-post.md"),
    ("spec/sina-site.md", REPO / "docs" / "sina-site.md"),
)
#: What every case folder holds.
CASE_FILES = ("page.html", "item.json", "expected.md", "expected_sample.md", "expected_path.txt", "provenance.json")
#: Recorded answers the tests read by name.
RECORDED_FILES = (
    "README.md",
    "feed.mix.roll.get_pageid153_lid2516_page1.trimmed.json",
    "finance.sina.com.cn_roll_c_56592.EXCERPT.html",
)
FIX = "run scripts/sync-corpus (and commit the result)"


def _files(root: Path) -> dict[str, Path]:
    """Every file under root (a folder, or a single file as ""), by relative POSIX path."""
    if root.is_file():
        return {"": root}
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()} if root.is_dir() else {}


def _incomplete() -> list[str]:
    problems = []
    folders = sorted(p for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []
    if len(folders) < 11:
        problems.append(f"{CORPUS}: {len(folders)} case folders, expected at least 11")
    for folder in folders:
        problems += [f"{folder / name} is missing" for name in CASE_FILES if not (folder / name).is_file()]
    if sorted(case.name for case in CASES) != [folder.name for folder in folders]:
        problems.append(f"the loaded cases {[c.name for c in CASES]} are not the folders of {CORPUS}")
    problems += [f"{RECORDED / name} is missing" for name in RECORDED_FILES if not (RECORDED / name).is_file()]
    for _, copy in MIRRORS[2:]:
        if not (copy.is_file() and copy.stat().st_size):
            problems.append(f"{copy} is missing or empty")
    return problems


def test_in_repo_copies_are_complete() -> None:
    assert _incomplete() == []


@pytest.mark.parametrize(("source", "copy"), MIRRORS, ids=[source for source, _ in MIRRORS])
def test_in_repo_copy_is_what_shared_holds(source: str, copy: Path) -> None:
    """Byte for byte, the same set of files."""
    if not SHARED.is_dir():  # a plain clone: nothing to compare with
        assert _incomplete() == [], f"no {SHARED} to compare with, and the in-repo copies are incomplete"
        return
    sources, copies = _files(SHARED / source), _files(copy)
    assert sources, f"{SHARED / source} is missing"
    where = copy.relative_to(REPO).as_posix()

    def named(name: str) -> str:
        return f"{where}/{name}" if name else where

    problems = [f"{named(name)}: only in {SHARED / source}" for name in sorted(sources.keys() - copies.keys())]
    problems += [f"{named(name)}: not in {SHARED / source}" for name in sorted(copies.keys() - sources.keys())]
    problems += [
        f"{named(name)}: differs from {sources[name]}"
        for name in sorted(sources.keys() & copies.keys())
        if sources[name].read_bytes() != copies[name].read_bytes()
    ]
    assert not problems, f"{where} has drifted from {SHARED / source}: {FIX}\n  " + "\n  ".join(problems)


# --- scripts/sync-corpus, on a made-up ../shared and repository ---------------------------


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _sync(shared: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SYNC), "--shared", str(shared), "--repo", str(repo), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


SHARED_FILES = {
    "corpus/a/page.html": b"<p>a</p>",
    "corpus/a/item.json": b"{}",
    "corpus/b/page.html": b"<p>b</p>",
    "recorded/README.md": b"# r\n",
    "spec/hexo-post.md": b"# post\n",
    "spec/sina-site.md": b"# site\n",
}


def test_sync_corpus_mirrors_shared_exactly(tmp_path: Path) -> None:
    shared, repo = tmp_path / "shared", tmp_path / "repo"
    _tree(shared, SHARED_FILES)
    # The repository's copies: one file changed, one gone from ../shared, one missing.
    _tree(
        repo,
        {
            "tests/corpus/a/page.html": b"<p>old a</p>",
            "tests/corpus/a/item.json": b"{}",
            "tests/corpus/gone/page.html": b"<p>gone</p>",
            "tests/recorded/README.md": b"# r\n",
            "docs/hexo-post.md": b"# post\n",
            "docs/sina-site.md": b"# site\n",
            "docs/deploy.md": b"not a copy\n",
        },
    )

    check = _sync(shared, repo, "--check")
    assert check.returncode == 1, check
    assert check.stdout.splitlines() == [
        "differs: tests/corpus/a/page.html",
        "missing here: tests/corpus/b/page.html",
        "not in ../shared: tests/corpus/gone/page.html",
    ]
    assert "run scripts/sync-corpus" in check.stderr
    assert (repo / "tests/corpus/a/page.html").read_bytes() == b"<p>old a</p>", "--check changes nothing"

    sync = _sync(shared, repo)
    assert sync.returncode == 0, sync
    assert sync.stdout.splitlines()[:3] == [
        "changed: tests/corpus/a/page.html",
        "added: tests/corpus/b/page.html",
        "removed: tests/corpus/gone/page.html",
    ]
    assert not (repo / "tests/corpus/gone").exists(), "an emptied folder goes too"
    assert (repo / "docs/deploy.md").read_bytes() == b"not a copy\n", "only the four copies are touched"
    for name, data in SHARED_FILES.items():
        copy = {"corpus": "tests/corpus", "recorded": "tests/recorded", "spec": "docs"}[name.split("/")[0]]
        assert (repo / copy / name.split("/", 1)[1]).read_bytes() == data

    again = _sync(shared, repo, "--check")
    assert (again.returncode, again.stdout) == (0, f"sync-corpus: the copies match {shared}\n")


def test_sync_corpus_without_shared_changes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _tree(repo, {"tests/corpus/a/page.html": b"<p>a</p>"})
    for args in ((), ("--check",)):
        result = _sync(tmp_path / "no-shared", repo, *args)
        assert result.returncode == 0, result
        assert "does not exist" in result.stdout
    assert (repo / "tests/corpus/a/page.html").read_bytes() == b"<p>a</p>"
