"""SINA_REDIS_URL set: the crawl is one process of a cluster (docs/cluster.md).
Read once into ClusterConfig; the cluster's own code (crawler.cluster) is imported only
once the ``cluster`` extra is known to be installed."""

from __future__ import annotations

from dataclasses import dataclass

from scrapy.settings import BaseSettings

from crawler.cluster_extra import CLUSTER_EXTRA, missing_cluster_extra
from crawler.config.errors import ConfigError
from crawler.config.sections import SECTION_ID
from crawler.config.values import more_than_zero, setting


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    redis_url: str  # SINA_REDIS_URL: redis://:password@host:6379/0 (rediss:// for TLS)
    name: str  # SINA_CLUSTER: one coordinator per name
    host_rate: float  # SINA_HOST_RATE: requests per second per host, all processes together
    worker_wait: float  # SINA_WORKER_WAIT: seconds a worker waits for a coordinator


def load_cluster(settings: BaseSettings) -> ClusterConfig | None:
    url = settings.get("SINA_REDIS_URL")
    if not url:
        return None
    if not str(url).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"SINA_REDIS_URL={url!r}: expected redis://, rediss:// or unix://")
    name = str(setting(settings, "SINA_CLUSTER"))
    if not SECTION_ID.match(name):
        raise ConfigError(f"SINA_CLUSTER={name!r}: expected lower-case letters, digits, - or _")
    rate = more_than_zero(settings, "SINA_HOST_RATE", "requests per second")
    worker_wait = more_than_zero(settings, "SINA_WORKER_WAIT", "seconds")
    missing = missing_cluster_extra()  # checked here, before any cluster code imports it
    if missing:
        raise ConfigError(f"SINA_REDIS_URL is set but {missing}: a cluster needs {CLUSTER_EXTRA}")
    return ClusterConfig(str(url), name, rate, worker_wait)
