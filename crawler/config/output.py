"""Where and how posts are written: one typed OutputConfig, read once from Scrapy settings.

Every default is in crawler/settings.py, and nowhere else.  An operator's output file
(SINA_OUTPUT_FILE, YAML; settings/output.yaml is its commented template) sets the same
settings under friendlier keys: a key of the file wins over crawler/settings.py and a
project's settings module, and loses to ``-s`` on the command line, a spider's own
settings and scrapyd's ``-d setting=`` (Scrapy's own order of priorities)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler.config import yamlfile
from crawler.config.errors import ConfigError
from crawler.config.values import at_least_one, more_than_zero, setting, whole_number
from crawler.hexo import permalink
from crawler.hexo.body import BODY_STYLES, BodyStyle
from crawler.hexo.post import FRONT_MATTER_EXTRAS, post_format

# A key of the output file -> the Scrapy setting it sets.
OUTPUT_KEYS = {
    "posts_dir": "HEXO_POSTS_DIR",
    "state_db": "STATE_DB",
    "manifest": "MANIFEST",
    "images": "HEXO_IMAGES",
    "image_hosts": "HEXO_IMAGE_HOSTS",
    "images_max_per_post": "HEXO_IMAGES_MAX_PER_POST",
    "images_max_bytes_per_run": "HEXO_IMAGES_MAX_BYTES_PER_RUN",
    "body": "HEXO_BODY",
    "front_matter_extras": "HEXO_FRONT_MATTER_EXTRAS",
    "keep_days": "HEXO_KEEP_DAYS",
    "keep_posts": "HEXO_KEEP_POSTS",
    "image_urls": "HEXO_IMAGE_URLS",
    "site_permalink": "HEXO_SITE_PERMALINK",
    "site_root": "HEXO_SITE_ROOT",
    "site_tz": "HEXO_SITE_TZ",
}
_LIST_KEYS = frozenset(["image_hosts", "front_matter_extras"])  # a YAML list, or comma-separated text
IMAGE_MODES = ("remote", "local")
IMAGE_URL_MODES = ("relative", "root")
_FILE_PRIORITY = SETTINGS_PRIORITIES["project"]  # the file overrides this and below
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class OutputConfig:
    posts_dir: Path  # HEXO_POSTS_DIR
    state_db: Path  # STATE_DB
    manifest: Path  # MANIFEST
    images: str  # HEXO_IMAGES: remote or local
    image_hosts: tuple[str, ...]  # HEXO_IMAGE_HOSTS: HEXO_IMAGES=local downloads only from these
    images_max_per_post: int  # HEXO_IMAGES_MAX_PER_POST: the rest stay remote
    images_max_bytes_per_run: int  # HEXO_IMAGES_MAX_BYTES_PER_RUN
    image_host_rate: float  # SINA_IMAGE_HOST_RATE: image requests per second to each image host
    body_style: BodyStyle  # HEXO_BODY
    front_matter_extras: tuple[str, ...]  # HEXO_FRONT_MATTER_EXTRAS, in FRONT_MATTER_EXTRAS order
    image_urls: str  # HEXO_IMAGE_URLS: relative (the file name) or root (from the site root)
    site: permalink.SitePermalink  # HEXO_SITE_PERMALINK, HEXO_SITE_ROOT, HEXO_SITE_TZ
    fsync: bool  # HEXO_FSYNC
    lock_wait: float  # SINA_LOCK_WAIT
    keep_days: int | None = None  # HEXO_KEEP_DAYS: retention by age (-a keep_days wins)
    keep_posts: int | None = None  # HEXO_KEEP_POSTS: retention by count (-a keep_posts wins)

    @property
    def post_format(self) -> str:
        """What the state records a post as written in: a change of it rewrites the post
        the next time it is listed.  Root image URLs depend on the site's permalink, root and
        time zone, so they are part of it: switching HEXO_IMAGE_URLS (or the site's rule)
        rewrites the posts as a change of HEXO_BODY does."""
        written = post_format(self.body_style, self.front_matter_extras)
        if self.images == "local" and self.image_urls == "root":
            written += f";images=root:{self.site.root}{self.site.rule}@{self.site.zone.key}"
        return written


def parse_output(text: str, source: str) -> dict[str, str]:
    """An output file's keys and values (``image_hosts``, ``front_matter_extras``: a list,
    or comma-separated text)."""
    root = yamlfile.compose(text, source)
    if root is None:
        return {}
    fields = yamlfile.mapping(root, source, frozenset(OUTPUT_KEYS), "the file")
    values = {}
    for key, node in fields.items():
        if key in _LIST_KEYS and isinstance(node, yaml.SequenceNode):
            values[key] = ",".join(str(yamlfile.scalar(item, source, key)) for item in node.value)
        else:
            values[key] = yamlfile.text(fields, key, source)
    return values


def output_file_settings(settings: BaseSettings) -> tuple[dict[str, str], str | None]:
    """The settings SINA_OUTPUT_FILE sets and may set (by name), and the file's name."""
    path = settings.get("SINA_OUTPUT_FILE")
    if not path:
        return {}, None
    text, source = yamlfile.read(str(path))
    values = parse_output(text, source)
    return {
        OUTPUT_KEYS[key]: value
        for key, value in values.items()
        if (settings.getpriority(OUTPUT_KEYS[key]) or 0) <= _FILE_PRIORITY
    }, source


def _image_hosts(value: object) -> tuple[str, ...]:
    """HEXO_IMAGE_HOSTS: host names, ``*.domain`` for a domain and its subdomains."""
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    hosts = tuple(str(item).strip().lower() for item in items if str(item).strip())
    bad = [host for host in hosts if not _HOST_PATTERN.match(host)]
    if bad or not hosts:
        problem = ", ".join(map(repr, bad)) or "empty"
        raise ConfigError(f"HEXO_IMAGE_HOSTS: {problem}: expected host names or *.domain, comma-separated")
    return hosts


def _list(value: object) -> list[str]:
    """A list setting's items: a list, or comma-separated text (``-s NAME=a,b``)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [str(item).strip() for item in items if str(item).strip()]


def _front_matter_extras(value: object) -> tuple[str, ...]:
    """HEXO_FRONT_MATTER_EXTRAS: some of excerpt, tags, updated; kept in the order they
    are written, whatever order they are given in."""
    try:
        wanted = _list(value)
    except TypeError:
        wanted = [repr(value)]
    unknown = [item for item in wanted if item not in FRONT_MATTER_EXTRAS]
    if unknown:
        raise ConfigError(
            f"HEXO_FRONT_MATTER_EXTRAS: {', '.join(map(repr, unknown))}: expected some of"
            f" {', '.join(FRONT_MATTER_EXTRAS)} (comma-separated, or a list), or nothing"
        )
    return tuple(extra for extra in FRONT_MATTER_EXTRAS if extra in wanted)


def _body_style(value: object) -> BodyStyle:
    for style in BODY_STYLES:
        if value == style:
            return style
    raise ConfigError(f"HEXO_BODY={value!r}: expected one of {', '.join(BODY_STYLES)}")


def _site(value: Callable[[str], object]) -> permalink.SitePermalink:
    """The Hexo site's permalink rule, root and TZ, each checked."""
    rule, root, tz = (str(value(name)) for name in ("HEXO_SITE_PERMALINK", "HEXO_SITE_ROOT", "HEXO_SITE_TZ"))
    problem = permalink.check_rule(rule)
    if problem:
        raise ConfigError(f"HEXO_SITE_PERMALINK={rule!r}: {problem}")
    problem = permalink.check_root(root)
    if problem:
        raise ConfigError(f"HEXO_SITE_ROOT={root!r}: {problem}")
    try:
        zone = permalink.zone(tz)
    except ValueError as exc:
        raise ConfigError(f"HEXO_SITE_TZ: {exc}") from None
    return permalink.SitePermalink(rule=rule, root=root, zone=zone)


def load_output(settings: BaseSettings) -> OutputConfig:
    """The output settings, each read once (an output file's keys over the project's)."""
    from_file, source = output_file_settings(settings)

    def value(name: str) -> object:
        return from_file[name] if name in from_file else setting(settings, name)

    def path(name: str) -> Path:
        where = f" (in {source})" if name in from_file else ""
        text = str(value(name) or "")
        if not text.strip():
            raise ConfigError(f"{name}{where}: expected a path, not an empty value")
        return Path(text).expanduser().absolute()

    posts_dir, state_db, manifest = path("HEXO_POSTS_DIR"), path("STATE_DB"), path("MANIFEST")
    for name, location in (("STATE_DB", state_db), ("MANIFEST", manifest)):
        if location.is_relative_to(posts_dir):
            raise ConfigError(f"{name}={location} is inside HEXO_POSTS_DIR={posts_dir}: Hexo would publish it")
    if state_db == manifest:
        raise ConfigError(f"STATE_DB and MANIFEST are the same file: {state_db}")
    images = str(value("HEXO_IMAGES"))
    if images not in IMAGE_MODES:
        raise ConfigError(f"HEXO_IMAGES={images!r}: expected one of {', '.join(IMAGE_MODES)}")
    image_urls = str(value("HEXO_IMAGE_URLS"))
    if image_urls not in IMAGE_URL_MODES:
        raise ConfigError(f"HEXO_IMAGE_URLS={image_urls!r}: expected one of {', '.join(IMAGE_URL_MODES)}")
    if image_urls == "root" and images != "local":
        raise ConfigError(f"HEXO_IMAGE_URLS=root needs HEXO_IMAGES=local (HEXO_IMAGES={images!r} keeps remote URLs)")
    site = _site(value)
    try:
        lock_wait = float(setting(settings, "SINA_LOCK_WAIT"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"SINA_LOCK_WAIT={settings.get('SINA_LOCK_WAIT')!r}: expected seconds") from None
    return OutputConfig(
        posts_dir=posts_dir,
        state_db=state_db,
        manifest=manifest,
        images=images,
        image_hosts=_image_hosts(value("HEXO_IMAGE_HOSTS")),
        images_max_per_post=whole_number("HEXO_IMAGES_MAX_PER_POST", value("HEXO_IMAGES_MAX_PER_POST")),
        images_max_bytes_per_run=whole_number("HEXO_IMAGES_MAX_BYTES_PER_RUN", value("HEXO_IMAGES_MAX_BYTES_PER_RUN")),
        image_host_rate=more_than_zero(settings, "SINA_IMAGE_HOST_RATE", "requests per second"),
        body_style=_body_style(value("HEXO_BODY")),
        front_matter_extras=_front_matter_extras(value("HEXO_FRONT_MATTER_EXTRAS")),
        image_urls=image_urls,
        site=site,
        fsync=settings.getbool("HEXO_FSYNC"),
        lock_wait=lock_wait,
        keep_days=at_least_one("HEXO_KEEP_DAYS", value("HEXO_KEEP_DAYS")),
        keep_posts=at_least_one("HEXO_KEEP_POSTS", value("HEXO_KEEP_POSTS")),
    )
