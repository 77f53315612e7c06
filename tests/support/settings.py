"""Settings as a crawl of this project gets them: crawler/settings.py (where every default
is) at Scrapy's ``project`` priority, and the given values as ``-s`` gives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.settings import Settings


def project_settings(values: dict[str, Any] | None = None, *, priority: str = "cmdline") -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update(values or {}, priority=priority)
    return settings


def own_settings(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's own settings (SINA_*, HEXO_*, STATE_DB, MANIFEST) with their defaults
    from crawler/settings.py, then ``values``: for ``get_crawler(settings_dict=…)``, which
    starts from Scrapy's defaults alone."""
    from crawler import settings as module

    own = {name: getattr(module, name) for name in dir(module) if is_own_setting(name)}
    return {**own, **(values or {})}


def is_own_setting(name: str) -> bool:
    return name.startswith(("SINA_", "HEXO_", "RETRY_BACKOFF_")) or name in ("STATE_DB", "MANIFEST")


def output_settings(folder: Path) -> dict[str, str]:
    """HEXO_POSTS_DIR, STATE_DB and MANIFEST under ``folder``: where a test's run writes."""
    return {
        "HEXO_POSTS_DIR": str(folder / "posts"),
        "STATE_DB": str(folder / "state.sqlite"),
        "MANIFEST": str(folder / "manifest.jsonl"),
    }
