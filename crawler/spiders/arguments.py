"""The spider's arguments (``-a name=value``), declared once: their names, types, defaults
and checks are this dataclass's fields; anything else is refused with a plain message."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from crawler.config import ConfigError
from crawler.config.values import count_of
from crawler.sina.times import BEIJING

# Arguments a runner adds of its own: scrapyd's -a _job=<job id>.
RUNNER_ARGUMENTS = frozenset({"_job"})
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")


def _pages(value: Any) -> int:
    try:
        pages = int(value)
    except (TypeError, ValueError):
        pages = 0
    if pages < 1:
        raise ConfigError(f"-a pages={value!r}: expected a whole number ≥ 1")
    return pages


def _since(value: Any) -> date | None:
    if value in (None, "") or isinstance(value, date):
        return value or None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"-a since={value!r}: expected YYYY-MM-DD") from None


def _refresh(value: Any) -> bool:
    text = str(value).strip().lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(f"-a refresh={value!r}: expected 1 or 0")
    return text in _TRUE


def _at_least_one(name: str, unit: str) -> Callable[[Any], int]:
    """The parser of a retention limit: a whole number of ``unit``, 1 or more."""

    def parse(value: Any) -> int:
        number = count_of(value, 1)
        if number is None:
            raise ConfigError(f"-a {name}={value!r}: expected a whole number of {unit}, 1 or more")
        return number

    return parse


def _sections(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True, slots=True)
class SpiderArguments:
    """``-a sections=china,macro -a pages=3 -a since=2026-09-01 -a refresh=1``."""

    sections: str | None = dataclasses.field(default=None, metadata={"parse": _sections})
    """section ids, comma-separated (default: every enabled section)"""
    pages: int = dataclasses.field(default=1, metadata={"parse": _pages})
    """roll-API pages per section, at most"""
    since: date | None = dataclasses.field(default=None, metadata={"parse": _since})
    """only items listed on or after this day (Beijing time)"""
    refresh: bool = dataclasses.field(default=False, metadata={"parse": _refresh})
    """fetch every listed article again"""
    keep_days: int | None = dataclasses.field(default=None, metadata={"parse": _at_least_one("keep_days", "days")})
    """retention: remove our posts older than N days (over HEXO_KEEP_DAYS)"""
    keep_posts: int | None = dataclasses.field(default=None, metadata={"parse": _at_least_one("keep_posts", "posts")})
    """retention: keep only the newest N of our posts (over HEXO_KEEP_POSTS)"""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> SpiderArguments:
        """Typed and checked arguments; ConfigError names an unknown or a wrong one."""
        names = cls.names()
        unknown = sorted(set(kwargs) - set(names) - RUNNER_ARGUMENTS)
        if unknown:
            given = ", ".join(f"-a {name}={kwargs[name]}" for name in unknown)
            hints = [hint for name in unknown for hint in difflib.get_close_matches(name, names, 1)]
            raise ConfigError(
                f"{given}: unknown spider argument{'s' if len(unknown) > 1 else ''}"
                f"{f' (did you mean {hints[0]}?)' if hints else ''}; known: {', '.join(names)}"
            )
        values = {
            field.name: field.metadata["parse"](kwargs[field.name])
            for field in dataclasses.fields(cls)
            if field.name in kwargs
        }
        return cls(**values)

    @property
    def since_timestamp(self) -> int | None:
        """Start of the ``since`` day, Beijing time (Sina's dates are Beijing dates)."""
        if self.since is None:
            return None
        return int(datetime(self.since.year, self.since.month, self.since.day, tzinfo=BEIJING).timestamp())
