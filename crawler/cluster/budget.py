"""The cluster's per-host request budget: at most SINA_HOST_RATE requests per second to
each host, over every process of the cluster together, spaced evenly.

Each request reserves the next free time slot of its host in Redis, atomically (a Lua
script), and waits until that slot.  Slots are 1/rate seconds apart and read from the
Redis server's clock, so machines whose clocks differ still share one budget, and no two
processes ever send in the same slot: any second holds at most ``rate`` requests (plus
one, for the network's jitter), never a burst at a window's edge.
"""

from __future__ import annotations

from typing import Any

import redis

# KEYS[1]: the host's key; ARGV[1]: seconds between two requests.  Returns the seconds to
# wait (a string: a Lua number would reach the client truncated to an integer).
_RESERVE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local interval = tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(t, free)
local expire_ms = math.ceil((slot + interval - t) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', expire_ms)
return string.format('%.6f', slot - t)
"""


class HostBudget:
    """``reserve(host)``: the seconds to wait before sending one request to ``host``."""

    def __init__(self, client: redis.Redis, prefix: str, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"a rate is more than 0 requests per second, not {rate!r}")
        self.prefix = prefix
        self.interval = 1.0 / rate
        self._reserve = client.register_script(_RESERVE)

    def reserve(self, host: str) -> float:
        wait: Any = self._reserve(keys=[f"{self.prefix}:{host}"], args=[repr(self.interval)])
        return max(0.0, float(wait))
