"""Several machines (SINA_REDIS_URL): one coordinator that lists and writes, workers that
fetch and parse, on scrapy-redis and a Redis server (README: "Several machines").

Redis and scrapy-redis are the ``cluster`` extra, which a core install (``pip install .``)
lacks: this package and ``crawler.cluster.protocol`` never import them, so every spider
and component loads without them.  ``budget``, ``coordinator`` and ``worker`` do, and are
imported only once a cluster is used (SINA_REDIS_URL set, or the worker spider run),
after ``missing_cluster_extra`` has said they can be.
"""

from __future__ import annotations

import importlib

#: What a core install lacks for a cluster, said in every message about it.
CLUSTER_EXTRA = "pip install 'sina-finance-hexo[cluster]'"
_EXTRA_MODULES = ("redis", "scrapy_redis")


def missing_cluster_extra() -> str | None:
    """Why the ``cluster`` extra cannot be used (a module of it fails to import), or None."""
    for name in _EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"{name} cannot be imported ({exc})"
    return None
