"""Configuration, read once at start into typed, frozen objects (``Config.of(crawler)``).

Split by what it holds: ``sections`` (the sections file: what to crawl), ``output`` (where
and how posts are written), ``cluster`` (several machines), ``crawl`` (the whole Config),
``values`` and ``yamlfile`` (reading a setting, reading YAML with file:line), ``errors``.
Every default is in crawler/settings.py; every problem stops the crawl with a message
that names the setting, or the file, the line and the key."""

from crawler.config.cluster import ClusterConfig
from crawler.config.crawl import Config
from crawler.config.errors import ConfigError
from crawler.config.output import IMAGE_MODES, OUTPUT_KEYS, OutputConfig, load_output, parse_output
from crawler.config.sections import (
    DEFAULT_WAIT_FOR,
    SECTION_KINDS,
    ColumnSection,
    FeedSection,
    PageSection,
    RollSection,
    Section,
    ZhiboSection,
    load_sections,
    parse_sections,
    select_sections,
)

__all__ = [
    "DEFAULT_WAIT_FOR",
    "IMAGE_MODES",
    "OUTPUT_KEYS",
    "SECTION_KINDS",
    "ClusterConfig",
    "ColumnSection",
    "Config",
    "ConfigError",
    "FeedSection",
    "OutputConfig",
    "PageSection",
    "RollSection",
    "Section",
    "ZhiboSection",
    "load_output",
    "load_sections",
    "parse_output",
    "parse_sections",
    "select_sections",
]
