"""Run real Hexo (tests/hexo/load_posts.js) over a folder of posts.

Hexo is installed with ``npm ci --prefix tests/hexo``; see tests/hexo/README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HEXO_DIR = Path(__file__).resolve().parents[1] / "hexo"
LOAD_POSTS_JS = HEXO_DIR / "load_posts.js"
INSTALL_HINT = "run `npm ci --prefix tests/hexo` from the repository root"
_REQUIRED_PACKAGES = ("hexo", "hexo-renderer-marked")


def missing_packages(packages: Iterable[str] = _REQUIRED_PACKAGES) -> list[str]:
    """The npm packages among ``packages`` that tests/hexo/node_modules does not hold."""
    modules = HEXO_DIR / "node_modules"
    return [name for name in packages if not (modules / name / "package.json").is_file()]


def hexo_installed(packages: Iterable[str] = _REQUIRED_PACKAGES) -> bool:
    """True when node is on PATH and tests/hexo/node_modules holds ``packages``
    (by default Hexo and its Markdown renderer)."""
    return shutil.which("node") is not None and not missing_packages(packages)


def not_installed_message(packages: Iterable[str] = _REQUIRED_PACKAGES) -> str:
    if shutil.which("node") is None:
        return f"`node` is not on PATH: install Node.js (>= 18), then {INSTALL_HINT}"
    missing = missing_packages(packages)
    what = ", ".join(missing) if missing else "Hexo"
    return f"{what} not installed in {HEXO_DIR / 'node_modules'}: {INSTALL_HINT}"


def load_with_hexo(
    posts_dir: Path, *, timeout: float = 120.0, timezone: str | None = None, tz: str = "UTC"
) -> list[dict[str, Any]]:
    """Load every ``*.md`` under ``posts_dir`` with Hexo in one node run.

    Returns one dict per post, sorted by ``source`` (the path relative to
    ``source/_posts``, forward slashes), with ``title``, ``date`` (ISO 8601 UTC),
    ``categories`` (names, root first), ``raw_has_content``, ``excerpt`` (Hexo's: the
    front matter's, else the text before ``<!-- more -->``, else ""), ``tags`` (names) and
    ``updated`` (ISO 8601 UTC: the front matter's, else the file's modification time) and
    ``path`` (its permalink, ``:year/:month/:day/:title/``).  ``timezone``: the site's
    ``timezone`` (empty by default); ``tz``: the zone node runs in (its ``TZ``).
    Raises RuntimeError (with Hexo's stderr) when Hexo fails or is not installed.
    """
    if not hexo_installed():
        raise RuntimeError(not_installed_message())
    args = [str(Path(posts_dir).resolve()), *(["--timezone", timezone] if timezone else [])]
    return run_hexo_script(LOAD_POSTS_JS, args, f"load {posts_dir}", timeout, tz=tz)


def run_hexo_script(script: Path, args: list[str], what: str, timeout: float, tz: str = "UTC") -> list[dict[str, Any]]:
    """Run one of tests/hexo's node scripts (TZ=UTC, or ``tz``) and return the JSON list it prints;
    RuntimeError, with Hexo's stderr, when it fails to ``what``."""
    node = shutil.which("node")
    assert node is not None
    try:
        proc = subprocess.run(
            [node, str(script), *args],
            cwd=HEXO_DIR,
            env={**os.environ, "TZ": tz},
            capture_output=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # run() hands back the bytes read so far even in text mode
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise RuntimeError(f"Hexo did not finish within {timeout} s:\n{stderr}") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"Hexo failed to {what} (exit {proc.returncode}):\n{proc.stderr.strip()}")
    try:
        posts = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"{script.name} printed no valid JSON ({exc}):\n"
            f"stdout: {proc.stdout[:2000]!r}\nstderr: {proc.stderr.strip()}"
        ) from exc
    if not isinstance(posts, list):
        msg = f"{script.name} printed {type(posts).__name__}, expected a list"
        raise RuntimeError(msg)
    return posts
