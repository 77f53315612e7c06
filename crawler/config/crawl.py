"""Config: every project setting of a crawl, read and checked once (``Config.of(crawler)``),
as scrapy-playwright's Config: a wrong value, or two that conflict, stop the crawl at start
with a message naming the setting, the file and the line."""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from scrapy.settings import BaseSettings

from crawler.config.cluster import ClusterConfig, load_cluster
from crawler.config.errors import ConfigError
from crawler.config.output import OutputConfig, load_output
from crawler.config.sections import Section, load_sections
from crawler.config.values import more_than_zero, setting, whole_number

AUTO_WORKERS = "auto"
# auto: a worker per usable core beyond the one the crawl's event loop takes, at most this
# many (the event loop hands pages out at about 300/s, and each worker parses more than
# that on a core of its own: further workers would only cost memory, 25 MB each).
MAX_AUTO_WORKERS = 4


def parse_worker_count(value: object, cpus: int | None = None) -> int:
    """SINA_PARSE_WORKERS: a whole number, or ``auto`` (``cpus``: the usable cores, by
    default this process's CPU affinity, which a container's CPU set limits)."""
    if isinstance(value, str) and value.strip().lower() == AUTO_WORKERS:
        usable = cpus if cpus is not None else len(os.sched_getaffinity(0))
        return max(1, min(MAX_AUTO_WORKERS, usable - 1))
    try:
        return whole_number("SINA_PARSE_WORKERS", value)
    except ConfigError:
        raise ConfigError(f"SINA_PARSE_WORKERS={value!r}: expected a whole number, 0 or more, or auto") from None


@dataclass(frozen=True, slots=True)
class Config:
    sections: tuple[Section, ...]  # every section of the sections file, in its order
    output: OutputConfig
    parse_workers: int  # SINA_PARSE_WORKERS (auto resolved): worker processes; 0 parses in the crawl's own process
    parse_timeout: float  # SINA_PARSE_TIMEOUT: seconds a worker may spend on one page
    stop_grace: float  # SINA_STOP_GRACE: seconds the downloads in flight get once a stop begins
    stats_file: Path | None  # SINA_STATS_FILE
    browser_ignore_https_errors: bool  # SINA_BROWSER_IGNORE_HTTPS_ERRORS
    cluster: ClusterConfig | None  # SINA_REDIS_URL unset (None): a crawl on its own

    _cache: ClassVar[weakref.WeakKeyDictionary[Any, Config]] = weakref.WeakKeyDictionary()

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Config:
        stats_file = settings.get("SINA_STATS_FILE")
        return cls(
            sections=load_sections(settings),
            output=load_output(settings),
            parse_workers=parse_worker_count(setting(settings, "SINA_PARSE_WORKERS")),
            parse_timeout=more_than_zero(settings, "SINA_PARSE_TIMEOUT", "seconds"),
            stop_grace=more_than_zero(settings, "SINA_STOP_GRACE", "seconds"),
            stats_file=Path(stats_file).expanduser().absolute() if stats_file else None,
            browser_ignore_https_errors=settings.getbool("SINA_BROWSER_IGNORE_HTTPS_ERRORS"),
            cluster=load_cluster(settings),
        )

    @classmethod
    def of(cls, crawler: Any) -> Config:
        """The crawl's Config, read from its settings the first time it is asked for."""
        config = cls._cache.get(crawler)
        if config is None:
            config = cls._cache[crawler] = cls.from_settings(crawler.settings)
        return config
