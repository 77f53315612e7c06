"""Several machines (SINA_REDIS_URL): one coordinator that lists and writes, workers that
fetch and parse, on scrapy-redis and a Redis server (README: "Several machines")."""
