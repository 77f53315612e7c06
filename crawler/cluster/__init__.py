"""Several machines (SINA_REDIS_URL): one coordinator that lists and writes, workers that
fetch and parse, on scrapy-redis and a Redis server (docs/cluster.md).

Redis and scrapy-redis are the ``cluster`` extra, which a core install (``pip install .``)
lacks: this package and ``crawler.cluster.protocol`` never import them, so every spider
and component loads without them.  ``budget``, ``coordinator`` and ``worker`` do, and are
imported only once a cluster is used (SINA_REDIS_URL set, or the worker spider run),
after ``missing_cluster_extra`` (crawler.cluster_extra) has said they can be.
"""

from __future__ import annotations

# Their home is below crawler.config (crawler.cluster_extra); named here for the code of a cluster.
from crawler.cluster_extra import CLUSTER_EXTRA as CLUSTER_EXTRA
from crawler.cluster_extra import missing_cluster_extra as missing_cluster_extra
