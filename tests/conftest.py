"""What the test modules share: where the in-repo golden corpus and recorded pages are,
the corpus loaded once, and the rule that keeps ``pytest -m "not e2e"`` fast.

The corpus (``tests/corpus/<case>/``), the recorded pages (``tests/recorded/``) and the
two specs (``docs/hexo-post.md``, ``docs/sina-site.md``) are copies of ``../shared``,
refreshed by ``scripts/sync-corpus``; only tests/test_corpus_copy.py looks at
``../shared`` itself.  Every other test reads the copies, so a plain clone runs.

Markers (registered in pyproject.toml, ``--strict-markers``):

``e2e``
    slow: runs the real crawler (``scrapy crawl``) in a subprocess through the replay
    proxy, or renders posts with Hexo / Chromium.  ``pytest -m "not e2e"`` is the fast
    loop of unit tests, and needs neither Node.js, Chromium nor scrapyd.
``browser``
    needs Debian's Chromium at /usr/bin/chromium.
``hexo``
    needs Node.js and ``npm ci --prefix tests/hexo``.
``scrapyd``
    starts a real scrapyd.
``redis``
    starts Debian's redis-server.
``plain_install``
    crawls with a venv holding ``pip install .`` alone (SINA_PLAIN_PYTHON's, else one it
    makes with pip: tests/test_e2e_plain_install.py).

Every test of a ``test_e2e_*.py`` module is ``e2e`` (added here if its module forgets).
A test marked ``browser``, ``hexo`` or ``scrapyd`` must be marked ``e2e`` as well: the
collection stops with a usage error otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.replay_proxy import CorpusCase, load_corpus

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
#: The golden corpus: one folder per case (page.html, item.json, expected.md,
#: expected_sample.md, expected_path.txt, provenance.json).
CORPUS = TESTS / "corpus"
#: Real Sina answers, recorded and trimmed (see its README.md).
RECORDED = TESTS / "recorded"
#: Every golden case, loaded once (sorted by name).  Read-only: copy an item before changing it.
CASES: tuple[CorpusCase, ...] = tuple(load_corpus(CORPUS)) if CORPUS.is_dir() else ()
CASES_BY_NAME: dict[str, CorpusCase] = {case.name: case for case in CASES}

#: Markers that name something a test needs beyond Python; each implies ``e2e``.
NEEDS_MORE_THAN_PYTHON = ("browser", "hexo", "scrapyd", "redis", "plain_install")


def corpus_case(name: str) -> CorpusCase:
    """The golden case called ``name``; a plain KeyError naming the corpus when it is missing."""
    try:
        return CASES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"no golden case {name!r} under {CORPUS} (run scripts/sync-corpus?)") from None


@pytest.fixture(scope="session")
def corpus_cases() -> tuple[CorpusCase, ...]:
    """Every golden case (see ``CASES``)."""
    assert CASES, f"no golden corpus at {CORPUS}"
    return CASES


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # the naming rule holds even for a module that forgets its pytestmark
        if item.path.name.startswith("test_e2e_") and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)
    unmarked = [
        item.nodeid
        for item in items
        if any(item.get_closest_marker(name) for name in NEEDS_MORE_THAN_PYTHON) and not item.get_closest_marker("e2e")
    ]
    if unmarked:
        listed = "\n  ".join(unmarked)
        raise pytest.UsageError(
            f"marked {'/'.join(NEEDS_MORE_THAN_PYTHON)} but not e2e (`-m 'not e2e'` must need none of them):\n"
            f"  {listed}"
        )


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server for the module's tests (marked ``redis``): its URL, password included."""
    from tests.support.redis_server import redis_problem, redis_server

    problem = redis_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with redis_server() as url:
        yield url
