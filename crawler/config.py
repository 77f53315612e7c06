"""Configuration, read once at start into typed objects (``Config.of(crawler)``): the
sections and the output from settings/*.yaml, overridden by Scrapy settings.  Every
problem stops the crawl with a message that names the file, the line and the key."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml
from scrapy.settings import BaseSettings

from crawler.cluster_extra import CLUSTER_EXTRA, DEFAULT_CLUSTER, missing_cluster_extra
from crawler.hexo.body import BODY_STYLES, DEFAULT_BODY_STYLE, BodyStyle
from crawler.hexo.post import post_format
from crawler.net.fetch_policy import DEFAULT_IMAGE_HOSTS

SECTION_KINDS = ("roll", "column", "page", "zhibo", "feed")
_COMMON_KEYS = {"id", "name", "kind", "categories", "author", "enabled"}
_REQUIRED_COMMON = {"id", "name", "kind", "categories", "author"}
# Keys of each kind: the roll API's list, a column page's cid, a JS-built list page.
_KIND_KEYS = {
    "roll": {"pageid", "lid"},
    "column": {"cid"},
    "page": {"url", "wait_for"},
    "zhibo": {"zhibo_id"},
    "feed": {"cids"},
}
_KIND_REQUIRED = {
    "roll": {"pageid", "lid"},
    "column": {"cid"},
    "page": {"url"},
    "zhibo": {"zhibo_id"},
    "feed": {"cids"},
}
_CIDS = re.compile(r"^\d+(,\d+)*$")
_SECTION_KEYS = _COMMON_KEYS.union(*_KIND_KEYS.values())
DEFAULT_WAIT_FOR = 'a[href*="/doc-i"]'  # a page section is read once article links exist
_OUTPUT_KEYS = {
    "posts_dir",
    "state_db",
    "manifest",
    "images",
    "image_hosts",
    "images_max_per_post",
    "images_max_bytes_per_run",
    "body",
}
IMAGE_MODES = ("remote", "local")
DEFAULT_IMAGES_MAX_PER_POST = 100
DEFAULT_IMAGES_MAX_BYTES_PER_RUN = 2 * 1024**3  # 2 GiB
_SECTION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Written unquoted in the front matter and used as folder names: keep them plain.
_UNSAFE_IN_CATEGORY = re.compile(r"[\x00-\x1f/\\:#{}\[\],&*!|>'\"%@`]|^[-?\s]|\s$")


class ConfigError(ValueError):
    """A configuration file or setting is wrong; the message says where and why."""


@dataclass(frozen=True, slots=True)
class _SectionBase:
    id: str
    name: str
    categories: tuple[str, str, str]
    author: str
    enabled: bool


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


@dataclass(frozen=True, slots=True)
class PageSection(_SectionBase):
    """A list page whose links JavaScript builds (read through the browser)."""

    url: str
    wait_for: str = DEFAULT_WAIT_FOR  # CSS selector the browser waits for
    kind: ClassVar[str] = "page"


@dataclass(frozen=True, slots=True)
class ZhiboSection(_SectionBase):
    """Sina's 7×24 live feed, channel ``zhibo_id`` (152: 财经): one post per flash."""

    zhibo_id: str
    kind: ClassVar[str] = "zhibo"


@dataclass(frozen=True, slots=True)
class FeedSection(_SectionBase):
    """A JSON channel list, interface.sina.cn public_news_data (``cids``: 57045, US stocks)."""

    cids: str
    kind: ClassVar[str] = "feed"


Section = RollSection | ColumnSection | PageSection | ZhiboSection | FeedSection
_SECTION_CLASSES: dict[str, type[Section]] = {
    cls.kind: cls for cls in (RollSection, ColumnSection, PageSection, ZhiboSection, FeedSection)
}


@dataclass(frozen=True, slots=True)
class OutputConfig:
    posts_dir: Path
    state_db: Path | None = None
    manifest: Path | None = None
    images: str = "remote"
    image_hosts: tuple[str, ...] = DEFAULT_IMAGE_HOSTS  # HEXO_IMAGES=local downloads only from these
    images_max_per_post: int = DEFAULT_IMAGES_MAX_PER_POST  # HEXO_IMAGES_MAX_PER_POST: the rest stay remote
    images_max_bytes_per_run: int = DEFAULT_IMAGES_MAX_BYTES_PER_RUN  # HEXO_IMAGES_MAX_BYTES_PER_RUN
    body_style: BodyStyle = DEFAULT_BODY_STYLE
    fsync: bool = True
    lock_wait: float = 60.0

    @property
    def post_format(self) -> str:
        return post_format(self.body_style)


def _packaged(name: str) -> tuple[str, str]:
    resource = resources.files("settings").joinpath(name)
    return resource.read_text(encoding="utf-8"), f"settings/{name}"


def _read(path: str | None, default_name: str) -> tuple[str, str]:
    if not path:
        return _packaged(default_name)
    try:
        return Path(path).read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})") from exc


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _scalar(node: yaml.Node, source: str, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{_where(source, node)}: key '{key}': expected a single value")
    return yaml.SafeLoader("").construct_object(node)


def _mapping(node: yaml.Node, source: str, allowed: set[str], what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_where(source, node)}: {what} must be a mapping of keys")
    fields: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{_where(source, key_node)}: unknown key '{key}' in {what} (known: {known})")
        if key in fields:
            raise ConfigError(f"{_where(source, key_node)}: key '{key}' given twice in {what}")
        fields[key] = value_node
    return fields


def _text(fields: dict[str, yaml.Node], key: str, source: str) -> str:
    value = _scalar(fields[key], source, key)
    if value is None or isinstance(value, bool | list | dict) or not str(value).strip():
        raise ConfigError(f"{_where(source, fields[key])}: key '{key}': expected a non-empty text")
    return str(value).strip()


def _section(node: yaml.Node, source: str) -> Section:
    fields = _mapping(node, source, _SECTION_KEYS, "a section")
    missing = sorted(_REQUIRED_COMMON - fields.keys())
    if missing:
        raise ConfigError(f"{_where(source, node)}: section misses key(s): {', '.join(missing)}")
    section_id = _text(fields, "id", source)
    if not _SECTION_ID.match(section_id):
        raise ConfigError(
            f"{_where(source, fields['id'])}: key 'id': '{section_id}' must be lower-case letters, digits, - or _"
        )
    kind = _text(fields, "kind", source)
    if kind not in SECTION_KINDS:
        raise ConfigError(
            f"{_where(source, fields['kind'])}: key 'kind': '{kind}' is not one of {', '.join(SECTION_KINDS)}"
        )
    for key in sorted(fields.keys() - _COMMON_KEYS - _KIND_KEYS[kind]):
        key_node = next(k for k, _ in node.value if k.value == key)
        raise ConfigError(f"{_where(source, key_node)}: key '{key}' does not belong to a section of kind {kind}")
    missing = sorted(_KIND_REQUIRED[kind] - fields.keys())
    if missing:
        raise ConfigError(f"{_where(source, node)}: section of kind {kind} misses key(s): {', '.join(missing)}")
    kind_values = {key: _text(fields, key, source) for key in _KIND_KEYS[kind] if key in fields}
    if kind == "zhibo" and not kind_values["zhibo_id"].isdigit():
        raise ConfigError(f"{_where(source, fields['zhibo_id'])}: key 'zhibo_id': expected digits (e.g. 152)")
    if kind == "feed" and not _CIDS.match(kind_values["cids"]):
        raise ConfigError(f"{_where(source, fields['cids'])}: key 'cids': expected digits, comma-separated")
    if kind == "column" and not kind_values["cid"].isdigit():
        raise ConfigError(f"{_where(source, fields['cid'])}: key 'cid': expected digits")
    if kind == "page" and not kind_values["url"].startswith(("https://", "http://")):
        raise ConfigError(f"{_where(source, fields['url'])}: key 'url': expected an http(s) URL")
    categories_node = fields["categories"]
    if not isinstance(categories_node, yaml.SequenceNode) or len(categories_node.value) != 3:
        raise ConfigError(f"{_where(source, categories_node)}: key 'categories': expected a list of three names")
    categories = []
    for item in categories_node.value:
        value = _scalar(item, source, "categories")
        text = "" if value is None else str(value)
        if not text or _UNSAFE_IN_CATEGORY.search(text) or text in (".", ".."):
            raise ConfigError(
                f"{_where(source, item)}: key 'categories': {text!r} is empty or has a character"
                " unsafe in YAML or in a path"
            )
        categories.append(text)
    author = _text(fields, "author", source)
    if _UNSAFE_IN_CATEGORY.search(author):
        raise ConfigError(
            f"{_where(source, fields['author'])}: key 'author': {author!r} has a character unsafe in YAML"
        )
    enabled = True
    if "enabled" in fields:
        enabled = _scalar(fields["enabled"], source, "enabled")
        if not isinstance(enabled, bool):
            raise ConfigError(f"{_where(source, fields['enabled'])}: key 'enabled': expected true or false")
    name = _text(fields, "name", source)
    three = (categories[0], categories[1], categories[2])
    # The kind's keys are its class's fields.
    return _SECTION_CLASSES[kind](section_id, name, three, author, enabled, **kind_values)


def parse_sections(text: str, source: str) -> tuple[Section, ...]:
    root = _compose(text, source)
    if root is None:
        raise ConfigError(f"{source}: empty file, expected 'sections:'")
    fields = _mapping(root, source, {"sections"}, "the file")
    if "sections" not in fields:
        raise ConfigError(f"{source}: missing key 'sections'")
    node = fields["sections"]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise ConfigError(f"{_where(source, node)}: key 'sections': expected a non-empty list")
    sections = [_section(item, source) for item in node.value]
    seen: dict[str, Section] = {}
    for item_node, section in zip(node.value, sections, strict=True):
        if section.id in seen:
            raise ConfigError(f"{_where(source, item_node)}: key 'id': section '{section.id}' is defined twice")
        seen[section.id] = section
    return tuple(sections)


def parse_output(text: str, source: str) -> dict[str, str]:
    root = _compose(text, source)
    if root is None:
        return {}
    fields = _mapping(root, source, _OUTPUT_KEYS, "the file")
    values = {}
    for key, node in fields.items():
        if key == "image_hosts" and isinstance(node, yaml.SequenceNode):  # a list, or comma-separated text
            values[key] = ",".join(str(_scalar(item, source, key)) for item in node.value)
        else:
            values[key] = _text(fields, key, source)
    return values


def load_sections(settings: BaseSettings) -> tuple[Section, ...]:
    text, source = _read(settings.get("SINA_SECTIONS_FILE"), "sections.yaml")
    return parse_sections(text, source)


_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _image_hosts(value: object) -> tuple[str, ...]:
    """HEXO_IMAGE_HOSTS: host names, ``*.domain`` for a domain and its subdomains."""
    if not value:
        return DEFAULT_IMAGE_HOSTS
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    hosts = tuple(str(item).strip().lower() for item in items if str(item).strip())
    bad = [host for host in hosts if not _HOST_PATTERN.match(host)]
    if bad or not hosts:
        problem = ", ".join(map(repr, bad)) or "empty"
        raise ConfigError(f"HEXO_IMAGE_HOSTS: {problem}: expected host names or *.domain, comma-separated")
    return hosts


def _whole_number(setting: str, value: object, default: int) -> int:
    """A count or size setting: a whole number, 0 or more (None or empty: the default)."""
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool | float):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{setting}={value!r}: expected a whole number, 0 or more")
    return number


def _body_style(value: str) -> BodyStyle:
    for style in BODY_STYLES:
        if value == style:
            return style
    raise ConfigError(f"HEXO_BODY={value!r}: expected one of {', '.join(BODY_STYLES)}")


def _setting_or(settings: BaseSettings, name: str, fallback: object) -> object:
    """The Scrapy setting when it is set (0 included), else the output file's value."""
    value = settings.get(name)
    return fallback if value is None or value == "" else value


def load_output(settings: BaseSettings) -> OutputConfig:
    """Output locations: Scrapy settings first, then settings/output.yaml."""
    packaged_text, packaged_source = _packaged("output.yaml")
    values = parse_output(packaged_text, packaged_source)  # defaults for keys a user file leaves out
    source = packaged_source
    if settings.get("SINA_OUTPUT_FILE"):
        text, source = _read(settings.get("SINA_OUTPUT_FILE"), "output.yaml")
        values.update(parse_output(text, source))

    def path(setting: str, key: str) -> Path:
        value = settings.get(setting) or values.get(key)
        if not value:
            raise ConfigError(f"{source}: no '{key}' and no {setting} setting")
        return Path(value).expanduser().absolute()

    posts_dir = path("HEXO_POSTS_DIR", "posts_dir")
    state_db = path("STATE_DB", "state_db")
    manifest = path("MANIFEST", "manifest")
    for name, location in (("STATE_DB", state_db), ("MANIFEST", manifest)):
        if location.is_relative_to(posts_dir):
            raise ConfigError(f"{name}={location} is inside HEXO_POSTS_DIR={posts_dir}: Hexo would publish it")
    if state_db == manifest:
        raise ConfigError(f"STATE_DB and MANIFEST are the same file: {state_db}")
    images = str(settings.get("HEXO_IMAGES") or values.get("images") or "remote")
    if images not in IMAGE_MODES:
        raise ConfigError(f"HEXO_IMAGES={images!r}: expected one of {', '.join(IMAGE_MODES)}")
    image_hosts = _image_hosts(settings.get("HEXO_IMAGE_HOSTS") or values.get("image_hosts"))
    images_max_per_post = _whole_number(
        "HEXO_IMAGES_MAX_PER_POST",
        _setting_or(settings, "HEXO_IMAGES_MAX_PER_POST", values.get("images_max_per_post")),
        DEFAULT_IMAGES_MAX_PER_POST,
    )
    images_max_bytes_per_run = _whole_number(
        "HEXO_IMAGES_MAX_BYTES_PER_RUN",
        _setting_or(settings, "HEXO_IMAGES_MAX_BYTES_PER_RUN", values.get("images_max_bytes_per_run")),
        DEFAULT_IMAGES_MAX_BYTES_PER_RUN,
    )
    body_style = _body_style(str(settings.get("HEXO_BODY") or values.get("body") or DEFAULT_BODY_STYLE))
    try:
        lock_wait = settings.getfloat("SINA_LOCK_WAIT", 60.0)
    except ValueError:
        raise ConfigError(f"SINA_LOCK_WAIT={settings.get('SINA_LOCK_WAIT')!r}: expected seconds") from None
    return OutputConfig(
        posts_dir=posts_dir,
        state_db=state_db,
        manifest=manifest,
        images=images,
        image_hosts=image_hosts,
        images_max_per_post=images_max_per_post,
        images_max_bytes_per_run=images_max_bytes_per_run,
        body_style=body_style,
        fsync=settings.getbool("HEXO_FSYNC", True),
        lock_wait=lock_wait,
    )


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


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """SINA_REDIS_URL set: the crawl is one process of a cluster (README: "Several machines")."""

    redis_url: str  # SINA_REDIS_URL: redis://:password@host:6379/0 (rediss:// for TLS)
    name: str  # SINA_CLUSTER: one coordinator per name
    host_rate: float  # SINA_HOST_RATE: requests per second per host, all processes together
    worker_wait: float = 60.0  # SINA_WORKER_WAIT: seconds a worker waits for a coordinator


def _cluster(settings: BaseSettings) -> ClusterConfig | None:
    url = settings.get("SINA_REDIS_URL")
    if not url:
        return None
    if not str(url).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"SINA_REDIS_URL={url!r}: expected redis://, rediss:// or unix://")
    name = str(settings.get("SINA_CLUSTER") or DEFAULT_CLUSTER)
    if not _SECTION_ID.match(name):
        raise ConfigError(f"SINA_CLUSTER={name!r}: expected lower-case letters, digits, - or _")
    rate = _more_than_zero(settings, "SINA_HOST_RATE", 4, "requests per second")
    worker_wait = _more_than_zero(settings, "SINA_WORKER_WAIT", 60, "seconds")
    missing = missing_cluster_extra()  # checked here, before any cluster code imports it
    if missing:
        raise ConfigError(f"SINA_REDIS_URL is set but {missing}: a cluster needs {CLUSTER_EXTRA}")
    return ClusterConfig(str(url), name, rate, worker_wait)


def _more_than_zero(settings: BaseSettings, name: str, default: float, unit: str) -> float:
    value = settings.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:  # NaN too
        raise ConfigError(f"{name}={value!r}: expected {unit}, more than 0")
    return number


@dataclass(frozen=True, slots=True)
class Config:
    """Every project setting of a crawl, read and checked once (``Config.of(crawler)``), as
    scrapy-playwright's Config: a wrong value, or two that conflict, stop the crawl at start
    with a message naming the setting, the file and the line."""

    sections: tuple[Section, ...]  # every section of the sections file, in its order
    output: OutputConfig
    parse_workers: int  # SINA_PARSE_WORKERS: worker processes; 0 parses in the crawl's own process
    parse_timeout: float  # SINA_PARSE_TIMEOUT: seconds a worker may spend on one page
    stats_file: Path | None  # SINA_STATS_FILE
    browser_ignore_https_errors: bool  # SINA_BROWSER_IGNORE_HTTPS_ERRORS
    cluster: ClusterConfig | None = None  # SINA_REDIS_URL unset: a crawl on its own

    _cache: ClassVar[weakref.WeakKeyDictionary[Any, Config]] = weakref.WeakKeyDictionary()

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Config:
        workers_value = settings.get("SINA_PARSE_WORKERS", 1)
        try:
            workers = int(workers_value)
        except (TypeError, ValueError):
            workers = -1
        if workers < 0:
            raise ConfigError(f"SINA_PARSE_WORKERS={workers_value!r}: expected a whole number, 0 or more")
        timeout = _more_than_zero(settings, "SINA_PARSE_TIMEOUT", 30, "seconds")
        stats_file = settings.get("SINA_STATS_FILE")
        return cls(
            sections=load_sections(settings),
            output=load_output(settings),
            parse_workers=workers,
            parse_timeout=timeout,
            stats_file=Path(stats_file).expanduser().absolute() if stats_file else None,
            browser_ignore_https_errors=settings.getbool("SINA_BROWSER_IGNORE_HTTPS_ERRORS"),
            cluster=_cluster(settings),
        )

    @classmethod
    def of(cls, crawler: Any) -> Config:
        """The crawl's Config, read from its settings the first time it is asked for."""
        config = cls._cache.get(crawler)
        if config is None:
            config = cls._cache[crawler] = cls.from_settings(crawler.settings)
        return config
