"""What a crawl knows of clusters before any cluster code loads: the ``cluster`` extra a
core install (``pip install .``) lacks, and whether it is installed.

It sits below both crawler.config, which checks SINA_REDIS_URL against it, and the
crawler.cluster package, which needs the extra: config reads these without importing
anything of a cluster (tests/test_layers.py).  It imports neither Redis nor scrapy-redis.
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
