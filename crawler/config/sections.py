"""The sections file (settings/sections.yaml, or SINA_SECTIONS_FILE): what to crawl.

A section is one listing of Sina's (a roll API list, a column page, a JS-built list page,
the 7×24 live feed, a JSON channel list) with the front-matter categories and author its
posts get.  Each kind is a frozen dataclass whose own fields are the keys a section of that
kind takes (required unless they have a default), and which checks its own values; the
file's mistakes are named by file, line and key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar

import yaml
from scrapy.settings import BaseSettings

from crawler.config import yamlfile
from crawler.config.errors import ConfigError
from crawler.config.yamlfile import where

SECTION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Written unquoted in the front matter and used as folder names: keep them plain.
_UNSAFE_IN_CATEGORY = re.compile(r"[\x00-\x1f/\\:#{}\[\],&*!|>'\"%@`]|^[-?\s]|\s$")
_CIDS = re.compile(r"^\d+(,\d+)*$")
DEFAULT_WAIT_FOR = 'a[href*="/doc-i"]'  # a page section is read once article links exist

# key -> (a test of its value, what the value must be)
ValueRules = Mapping[str, tuple[Callable[[str], bool], str]]


@dataclass(frozen=True, slots=True)
class _SectionBase:
    id: str
    name: str
    categories: tuple[str, str, str]
    author: str
    enabled: bool
    kind: ClassVar[str]
    value_rules: ClassVar[ValueRules] = {}

    @classmethod
    def own_keys(cls) -> frozenset[str]:
        """The keys of this kind: its fields beyond those every section has."""
        return frozenset(field.name for field in fields(cls)) - _BASE_FIELDS

    @classmethod
    def required_keys(cls) -> frozenset[str]:
        return frozenset(
            field.name
            for field in fields(cls)
            if field.name not in _BASE_FIELDS and field.default is MISSING and field.default_factory is MISSING
        )

    @classmethod
    def value_problem(cls, key: str, value: str) -> str | None:
        """What is wrong with the value of one of this kind's keys, or None."""
        rule = cls.value_rules.get(key)
        return None if rule is None or rule[0](value) else rule[1]


_BASE_FIELDS = frozenset(field.name for field in fields(_SectionBase))


@dataclass(frozen=True, slots=True)
class RollSection(_SectionBase):
    """Listed by Sina's roll API (``pageid``/``lid``)."""

    pageid: str
    lid: str
    kind: ClassVar[str] = "roll"


@dataclass(frozen=True, slots=True)
class ColumnSection(_SectionBase):
    """A server-rendered column page, https://finance.sina.com.cn/roll/c/<cid>.shtml."""

    cid: str
    kind: ClassVar[str] = "column"
    value_rules: ClassVar[ValueRules] = {"cid": (str.isdigit, "expected digits")}


@dataclass(frozen=True, slots=True)
class PageSection(_SectionBase):
    """A list page whose links JavaScript builds (read through the browser)."""

    url: str
    wait_for: str = DEFAULT_WAIT_FOR  # CSS selector the browser waits for
    kind: ClassVar[str] = "page"
    value_rules: ClassVar[ValueRules] = {
        "url": (lambda url: url.startswith(("https://", "http://")), "expected an http(s) URL")
    }


@dataclass(frozen=True, slots=True)
class ZhiboSection(_SectionBase):
    """Sina's 7×24 live feed, channel ``zhibo_id`` (152: 财经): one post per flash."""

    zhibo_id: str
    kind: ClassVar[str] = "zhibo"
    value_rules: ClassVar[ValueRules] = {"zhibo_id": (str.isdigit, "expected digits (e.g. 152)")}


@dataclass(frozen=True, slots=True)
class FeedSection(_SectionBase):
    """A JSON channel list, interface.sina.cn public_news_data (``cids``: 57045, US stocks)."""

    cids: str
    kind: ClassVar[str] = "feed"
    value_rules: ClassVar[ValueRules] = {
        "cids": (lambda cids: _CIDS.match(cids) is not None, "expected digits, comma-separated")
    }


Section = RollSection | ColumnSection | PageSection | ZhiboSection | FeedSection
SECTION_CLASSES: dict[str, type[Section]] = {
    cls.kind: cls for cls in (RollSection, ColumnSection, PageSection, ZhiboSection, FeedSection)
}
SECTION_KINDS = tuple(SECTION_CLASSES)
_COMMON_KEYS = _BASE_FIELDS | {"kind"}
_REQUIRED_COMMON = _COMMON_KEYS - {"enabled"}
_SECTION_KEYS = _COMMON_KEYS.union(*(cls.own_keys() for cls in SECTION_CLASSES.values()))


def _categories(node: yaml.Node, source: str) -> tuple[str, str, str]:
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
        raise ConfigError(f"{where(source, node)}: key 'categories': expected a list of three names")
    names = []
    for item in node.value:
        value = yamlfile.scalar(item, source, "categories")
        name = "" if value is None else str(value)
        if not name or _UNSAFE_IN_CATEGORY.search(name) or name in (".", ".."):
            raise ConfigError(
                f"{where(source, item)}: key 'categories': {name!r} is empty or has a character"
                " unsafe in YAML or in a path"
            )
        names.append(name)
    return names[0], names[1], names[2]


def _kind(node: yaml.Node, fields_: dict[str, yaml.Node], source: str) -> type[Section]:
    kind = yamlfile.text(fields_, "kind", source)
    if kind not in SECTION_CLASSES:
        raise ConfigError(
            f"{where(source, fields_['kind'])}: key 'kind': '{kind}' is not one of {', '.join(SECTION_KINDS)}"
        )
    cls = SECTION_CLASSES[kind]
    for key in sorted(fields_.keys() - _COMMON_KEYS - cls.own_keys()):
        key_node = next(k for k, _ in node.value if k.value == key)
        raise ConfigError(f"{where(source, key_node)}: key '{key}' does not belong to a section of kind {kind}")
    missing = sorted(cls.required_keys() - fields_.keys())
    if missing:
        raise ConfigError(f"{where(source, node)}: section of kind {kind} misses key(s): {', '.join(missing)}")
    return cls


def _section(node: yaml.Node, source: str) -> Section:
    fields_ = yamlfile.mapping(node, source, _SECTION_KEYS, "a section")
    missing = sorted(_REQUIRED_COMMON - fields_.keys())
    if missing:
        raise ConfigError(f"{where(source, node)}: section misses key(s): {', '.join(missing)}")
    section_id = yamlfile.text(fields_, "id", source)
    if not SECTION_ID.match(section_id):
        raise ConfigError(
            f"{where(source, fields_['id'])}: key 'id': '{section_id}' must be lower-case letters, digits, - or _"
        )
    cls = _kind(node, fields_, source)
    own = {key: yamlfile.text(fields_, key, source) for key in cls.own_keys() if key in fields_}
    for key, value in own.items():
        problem = cls.value_problem(key, value)
        if problem:
            raise ConfigError(f"{where(source, fields_[key])}: key '{key}': {problem}")
    categories = _categories(fields_["categories"], source)
    author = yamlfile.text(fields_, "author", source)
    if _UNSAFE_IN_CATEGORY.search(author):
        raise ConfigError(
            f"{where(source, fields_['author'])}: key 'author': {author!r} has a character unsafe in YAML"
        )
    enabled = True
    if "enabled" in fields_:
        enabled = yamlfile.scalar(fields_["enabled"], source, "enabled")
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where(source, fields_['enabled'])}: key 'enabled': expected true or false")
    name = yamlfile.text(fields_, "name", source)
    return cls(section_id, name, categories, author, enabled, **own)


def parse_sections(text: str, source: str) -> tuple[Section, ...]:
    root = yamlfile.compose(text, source)
    if root is None:
        raise ConfigError(f"{source}: empty file, expected 'sections:'")
    fields_ = yamlfile.mapping(root, source, {"sections"}, "the file")
    if "sections" not in fields_:
        raise ConfigError(f"{source}: missing key 'sections'")
    node = fields_["sections"]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise ConfigError(f"{where(source, node)}: key 'sections': expected a non-empty list")
    sections = [_section(item, source) for item in node.value]
    seen: set[str] = set()
    for item_node, section in zip(node.value, sections, strict=True):
        if section.id in seen:
            raise ConfigError(f"{where(source, item_node)}: key 'id': section '{section.id}' is defined twice")
        seen.add(section.id)
    return tuple(sections)


def load_sections(settings: BaseSettings) -> tuple[Section, ...]:
    """SINA_SECTIONS_FILE, or the packaged settings/sections.yaml."""
    path = settings.get("SINA_SECTIONS_FILE")
    text, source = yamlfile.read(str(path)) if path else yamlfile.packaged("sections.yaml")
    return parse_sections(text, source)


def select_sections(sections: tuple[Section, ...], wanted: str | None) -> tuple[Section, ...]:
    """``-a sections=a,b``: those, in sections.yaml order; none given: every enabled one."""
    if not wanted:
        return tuple(section for section in sections if section.enabled)
    ids = [part.strip() for part in wanted.split(",") if part.strip()]
    known = {section.id for section in sections}
    unknown = [section_id for section_id in ids if section_id not in known]
    if unknown:
        raise ConfigError(
            f"-a sections: unknown section(s) {', '.join(unknown)} (known: {', '.join(s.id for s in sections)})"
        )
    return tuple(section for section in sections if section.id in ids)
