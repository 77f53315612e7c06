"""The project's checks by name: ``.venv/bin/nox -s <session>`` (``nox -l`` lists them).

Every session but ``lowest`` runs in the project's own ``.venv/`` (made by
``scripts/setup.sh``, which installs nox with the ``test`` extra): nothing is installed
and the session starts at once.  ``lowest`` makes a venv of its own, ``.nox/lowest``,
holding the lowest versions ``pyproject.toml`` allows.  ``.ci/run`` runs the README's
test command (every test), then ``lint``, ``typing``, ``docs`` and ``lowest``.

Sessions:

* ``unit``: the fast loop, ``pytest -m "not e2e"`` (no Node.js, Chromium, scrapyd, Redis);
* ``e2e``: the end-to-end tests alone (real crawls, Hexo, Chromium, scrapyd, Redis);
* ``typing``: mypy, as configured in pyproject.toml;
* ``lint``: ``ruff check`` and ``ruff format --check``;
* ``lowest``: the unit and cluster tests on the dependency floors (``scripts/lowest-versions``);
* ``docs``: tests/test_docs.py, every setting documented both ways and every relative link
  of README.md and docs/*.md resolved.

Extra arguments go to the tool: ``nox -s unit -- -x -k retry``."""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typing", "docs", "unit"]  # `nox` alone: the quick ones
nox.options.error_on_missing_interpreters = True


def _venv_tool(name: str) -> str:
    """A program of the project's .venv/, which scripts/setup.sh makes."""
    tool = VENV_BIN / name
    if not tool.exists():
        raise SystemExit(f"nox: {tool} is missing: run scripts/setup.sh first")
    return str(tool)


def _pytest(session: nox.Session, *args: str) -> None:
    session.run(_venv_tool("python"), "-m", "pytest", *args, *session.posargs, external=True)


@nox.session
def unit(session: nox.Session) -> None:
    """The fast loop: every test not marked e2e."""
    _pytest(session, "-q", "-m", "not e2e")


@nox.session
def e2e(session: nox.Session) -> None:
    """The end-to-end tests: real crawls through the replay proxy, Hexo, Chromium, scrapyd, Redis."""
    _pytest(session, "-q", "-m", "e2e")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy, on what pyproject.toml's [tool.mypy] names."""
    session.run(_venv_tool("mypy"), *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: the lint rules, then the formatting."""
    session.run(_venv_tool("ruff"), "check", ".", *session.posargs, external=True)
    session.run(_venv_tool("ruff"), "format", "--check", ".", external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """Settings documented both ways; relative links of README.md and docs/*.md resolve."""
    _pytest(session, "-q", "tests/test_docs.py")


@nox.session(venv_backend="venv", reuse_venv=False)
def lowest(session: nox.Session) -> None:
    """The unit and cluster tests on the lowest versions pyproject.toml allows, so each floor
    is true (redis-server is installed by scripts/setup.sh; scrapyd is not installed here)."""
    floors = session.run("python", str(ROOT / "scripts" / "lowest-versions"), silent=True)
    assert isinstance(floors, str)
    session.log("lowest versions: " + " ".join(floors.split()))
    constraints = Path(session.create_tmp()) / "lowest-versions.txt"
    constraints.write_text(floors, encoding="utf-8")
    session.install("--quiet", "--upgrade", "pip")
    session.install("--quiet", "-c", str(constraints), "-e", ".[cluster]", "pytest", "trustme")
    session.run("python", "-m", "pytest", "-q", "-m", "not e2e or (redis and not scrapyd)", *session.posargs)
