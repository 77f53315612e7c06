"""An in-memory Redis for the fast loop: the few commands a cluster makes (crawler.cluster,
scrapy-redis's PriorityQueue, RFPDupeFilter and Scheduler, redis-py's Lock), with a clock
the test moves, so a lease or a heartbeat expires without waiting.

Invariant: every client of one FakeServer sees the same keys, as every client of one
Redis does; a command the fake does not know raises NotImplementedError, never answers
something a real server would not.  Lua is not run: redis-py's Lock scripts are done in
Python (their text is in redis/lock.py), any other script is refused.  The host budget's
script (crawler.cluster.budget) runs on a real server only (tests/test_cluster.py,
marker ``redis``).

``install(monkeypatch)`` makes ``redis.Redis.from_url`` (what the coordinator, the worker
spider and scrapy-redis call) return clients of a fresh FakeServer.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from redis.commands.core import Script
from redis.lock import Lock

Value = bytes | list[bytes] | set[bytes] | dict[bytes, float]


def encoded(value: Any) -> bytes:
    """A value as redis-py's Encoder sends it: bytes as they are, str as UTF-8, numbers
    as their text (a float as its repr); anything else is refused, as redis-py does."""
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise redis.DataError(f"Invalid input of type: {type(value).__name__!r}")
    return (repr(value) if isinstance(value, float) else str(value)).encode("utf-8")


class _Encoder:
    """What redis-py's Script asks of a client to hash a script's text."""

    def encode(self, value: Any) -> bytes:
        return encoded(value)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@dataclass
class FakeServer:
    """The keys of one Redis, its clock (seconds), and whether it answers (``down``)."""

    now: float = 1_000_000.0
    down: bool = False
    data: dict[bytes, Value] = field(default_factory=dict)
    expires_at: dict[bytes, float] = field(default_factory=dict)
    connected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # from_url's arguments

    def client(self, url: str = "redis://fake/0", **kwargs: Any) -> FakeRedis:
        self.connected.append((url, kwargs))
        return FakeRedis(self)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def alive(self, key: bytes) -> Value | None:
        """The key's value, unless it expired (then it is gone)."""
        expiry = self.expires_at.get(key)
        if expiry is not None and expiry <= self.now:
            self.data.pop(key, None)
            self.expires_at.pop(key, None)
        return self.data.get(key)

    def ttl(self, key: str) -> float | None:
        """Seconds the key has left; None without an expiry (or without the key)."""
        name = encoded(key)
        if self.alive(name) is None or name not in self.expires_at:
            return None
        return self.expires_at[name] - self.now


def install(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """A fresh FakeServer behind ``redis.Redis.from_url`` (scrapy-redis's StrictRedis is
    the same class), for the test's duration."""
    server = FakeServer()
    monkeypatch.setattr(redis.Redis, "from_url", server.client)
    return server


class FakePipeline:
    """MULTI … EXEC: the commands queued, run in order by ``execute``."""

    def __init__(self, client: FakeRedis) -> None:
        self.client = client
        self.queued: list[Callable[[], Any]] = []

    def multi(self) -> None:
        pass

    def zrange(self, name: str, start: int, end: int) -> FakePipeline:
        self.queued.append(lambda: self.client.zrange(name, start, end))
        return self

    def zremrangebyrank(self, name: str, start: int, end: int) -> FakePipeline:
        self.queued.append(lambda: self.client.zremrangebyrank(name, start, end))
        return self

    def execute(self) -> list[Any]:
        results = [command() for command in self.queued]
        self.queued.clear()
        return results


class FakeRedis:
    """One client of a FakeServer, with redis-py's method names and answers (bytes)."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self._scripts: dict[str, Callable[[list[bytes], list[bytes]], int]] = {
            _sha(Lock.LUA_RELEASE_SCRIPT): self._lock_release,
            _sha(Lock.LUA_EXTEND_SCRIPT): self._lock_extend,
            _sha(Lock.LUA_REACQUIRE_SCRIPT): self._lock_reacquire,
        }

    # --- plumbing -------------------------------------------------------------------

    def _up(self) -> FakeServer:
        if self.server.down:
            raise redis.ConnectionError("Error 111 connecting to fake:6379. Connection refused.")
        return self.server

    def _typed(self, name: Any, kind: type[Any]) -> Any:
        value = self._up().alive(encoded(name))
        if value is not None and not isinstance(value, kind):
            raise redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def get_encoder(self) -> _Encoder:
        return _Encoder()

    def ping(self) -> bool:
        self._up()
        return True

    # --- keys and strings -----------------------------------------------------------

    def set(
        self,
        name: Any,
        value: Any,
        ex: float | None = None,
        px: int | None = None,
        nx: bool = False,
    ) -> bool | None:
        server, key = self._up(), encoded(name)
        if nx and server.alive(key) is not None:
            return None
        server.data[key] = encoded(value)
        server.expires_at.pop(key, None)
        if ex is not None:
            server.expires_at[key] = server.now + ex
        elif px is not None:
            server.expires_at[key] = server.now + px / 1000
        return True

    def get(self, name: Any) -> bytes | None:
        value: bytes | None = self._typed(name, bytes)
        return value

    def delete(self, *names: Any) -> int:
        server = self._up()
        gone = 0
        for name in names:
            key = encoded(name)
            if server.alive(key) is not None:
                del server.data[key]
                server.expires_at.pop(key, None)
                gone += 1
        return gone

    def exists(self, *names: Any) -> int:
        server = self._up()
        return sum(server.alive(encoded(name)) is not None for name in names)

    def pttl(self, name: Any) -> int:
        ttl = self._up().ttl(name)
        if self.server.alive(encoded(name)) is None:
            return -2
        return -1 if ttl is None else int(ttl * 1000)

    def pexpire(self, name: Any, milliseconds: int) -> bool:
        server, key = self._up(), encoded(name)
        if server.alive(key) is None:
            return False
        server.expires_at[key] = server.now + milliseconds / 1000
        return True

    def scan_iter(self, match: str | None = None, count: int | None = None) -> Iterator[bytes]:
        server = self._up()
        pattern = encoded(match or "*")
        keys = [key for key in list(server.data) if server.alive(key) is not None]
        yield from (key for key in keys if fnmatch.fnmatchcase(key.decode(), pattern.decode()))

    # --- lists ----------------------------------------------------------------------

    def rpush(self, name: Any, *values: Any) -> int:
        items: list[bytes] | None = self._typed(name, list)
        if items is None:
            items = self.server.data[encoded(name)] = []
        items.extend(encoded(value) for value in values)
        return len(items)

    def lpop(self, name: Any, count: int | None = None) -> bytes | list[bytes] | None:
        items: list[bytes] | None = self._typed(name, list)
        if not items:
            return None
        taken = items[: 1 if count is None else count]
        del items[: len(taken)]
        if not items:
            self.delete(name)
        return taken[0] if count is None else taken

    def llen(self, name: Any) -> int:
        items: list[bytes] | None = self._typed(name, list)
        return len(items or [])

    # --- sets and sorted sets -------------------------------------------------------

    def sadd(self, name: Any, *values: Any) -> int:
        members: set[bytes] | None = self._typed(name, set)
        if members is None:
            members = self.server.data[encoded(name)] = set()
        before = len(members)
        members.update(encoded(value) for value in values)
        return len(members) - before

    def execute_command(self, *args: Any) -> Any:
        """Only ZADD key score member, as scrapy-redis's PriorityQueue sends it."""
        command, *rest = args
        if command != "ZADD" or len(rest) != 3:
            raise NotImplementedError(f"the fake Redis does not run {args!r}")
        name, score, member = rest
        scores: dict[bytes, float] | None = self._typed(name, dict)
        if scores is None:
            scores = self.server.data[encoded(name)] = {}
        added = encoded(member) not in scores
        scores[encoded(member)] = float(score)
        return int(added)

    def _ranked(self, name: Any) -> list[bytes]:
        scores: dict[bytes, float] = self._typed(name, dict) or {}
        return sorted(scores, key=lambda member: (scores[member], member))

    def zcard(self, name: Any) -> int:
        return len(self._ranked(name))

    def zrange(self, name: Any, start: int, end: int) -> list[bytes]:
        ranked = self._ranked(name)
        return ranked[start : (None if end == -1 else end + 1)]

    def zremrangebyrank(self, name: Any, start: int, end: int) -> int:
        doomed = self.zrange(name, start, end)
        scores: dict[bytes, float] = self._typed(name, dict) or {}
        for member in doomed:
            del scores[member]
        if not scores:
            self.delete(name)
        return len(doomed)

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    # --- scripts: redis-py's Lock only ----------------------------------------------

    def register_script(self, script: str) -> Script:
        return Script(self, script)  # type: ignore[arg-type]  # a FakeRedis stands for a client

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> int:
        run = self._scripts.get(sha)
        if run is None:
            raise NotImplementedError("the fake Redis runs no Lua but redis-py Lock's scripts")
        self._up()
        values = [encoded(value) for value in keys_and_args]
        return run(values[:numkeys], values[numkeys:])

    def _lock_release(self, keys: list[bytes], args: list[bytes]) -> int:
        if self.get(keys[0]) != args[0]:
            return 0
        self.delete(keys[0])
        return 1

    def _lock_extend(self, keys: list[bytes], args: list[bytes]) -> int:
        if self.get(keys[0]) != args[0]:
            return 0
        expiration = self.pttl(keys[0])
        if expiration < 0:
            return 0
        new_ttl = int(args[1]) if args[2] == b"1" else int(args[1]) + expiration
        if new_ttl > 0:
            self.pexpire(keys[0], new_ttl)
        return 1

    def _lock_reacquire(self, keys: list[bytes], args: list[bytes]) -> int:
        if self.get(keys[0]) != args[0]:
            return 0
        if int(args[1]) > 0:
            self.pexpire(keys[0], int(args[1]))
        return 1
