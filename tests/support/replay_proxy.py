"""Local replay HTTP(S) proxy for end-to-end tests and benchmarks.

A real client (Scrapy with ``http_proxy``/``https_proxy``, urllib, Chromium)
talks to :class:`ReplayProxy` as if it were a forward proxy.  Plain requests
arrive in absolute form (``GET http://host/path HTTP/1.1``); HTTPS requests
arrive through ``CONNECT host:443``, after which the proxy terminates TLS itself
with a throwaway ``trustme`` certificate and answers the tunnelled requests from
its route table.  Nothing ever leaves the machine.

Usage::

    with ReplayProxy() as proxy:
        proxy.add("https://finance.sina.com.cn/x.shtml", b"<html>...</html>")
        env = {"https_proxy": proxy.url, "http_proxy": proxy.url}
        ...
        assert proxy.count("/x.shtml") == 1

CLI::

    python -m tests.support.replay_proxy --corpus tests/corpus --port 8899
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import faulthandler
import http
import json
import logging
import os
import signal
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import trustme

__all__ = [
    "DEFAULT_CERT_NAMES",
    "ROLL_API_PREFIX",
    "CorpusCase",
    "FeedApi",
    "Handler",
    "ProxyRequest",
    "ProxyResponse",
    "ReplayProxy",
    "RollApi",
    "ZhiboApi",
    "load_corpus",
    "normalize_url",
    "serve_corpus",
]

log = logging.getLogger(__name__)

ROLL_API_PREFIX = "https://feed.mix.sina.com.cn/api/roll/get"

#: Names covered by the shared leaf certificate; other CONNECT hosts get a
#: lazily issued leaf of their own.
DEFAULT_CERT_NAMES: tuple[str, ...] = (
    "sina.com.cn",
    "*.sina.com.cn",
    "*.finance.sina.com.cn",
    "*.mix.sina.com.cn",
    "sina.cn",
    "*.sina.cn",
    "*.finance.sina.cn",
    "sinaimg.cn",
    "*.sinaimg.cn",
    "sinajs.cn",
    "*.sinajs.cn",
    "localhost",
    "127.0.0.1",
)

DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"
_FAULTS = (None, "drop", "truncate")
_MAX_HEAD = 256 * 1024
_HOLD_POLL = 0.01


@dataclass
class ProxyRequest:
    """One request as seen by the proxy (``url`` is absolute, scheme included)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)  # when its head had arrived

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, first value per key."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            result.setdefault(key, value)
        return result

    @property
    def url_without_query(self) -> str:
        """The URL with its query string removed."""
        return _strip_query(self.url)


@dataclass
class ProxyResponse:
    """An answer from the route table or a handler.

    ``fault`` is ``None``, ``"drop"`` (close without answering) or
    ``"truncate"`` (full Content-Length, half the body, then close).
    ``delay`` seconds are waited before answering (or faulting).
    ``hold``: the answer waits until this event is set (after ``delay``), so that a test
    orders events ("answered only once the crawl was killed") instead of guessing a time.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    fault: str | None = None
    hold: threading.Event | None = None


Handler = Callable[[ProxyRequest], ProxyResponse]


def normalize_url(url: str) -> str:
    """Canonical form used for matching: lower-case scheme/host, no default port, no fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 brackets allowed)."""
    authority = authority.strip()
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    return host.lower(), int(port) if port.isdigit() else default_port


def _cert_covers(names: Iterable[str], host: str) -> bool:
    """True if ``host`` matches one of the certificate ``names`` (one-label wildcards)."""
    for name in names:
        if name == host:
            return True
        if name.startswith("*."):
            suffix = name[1:]
            if host.endswith(suffix) and "." not in host[: -len(suffix)] and host[: -len(suffix)]:
                return True
    return False


class _Route:
    """A static response stored in the route table."""

    __slots__ = ("body", "delay", "headers", "status")

    def __init__(self, body: bytes, status: int, headers: dict[str, str], delay: float = 0.0) -> None:
        self.body = body
        self.status = status
        self.headers = headers
        self.delay = delay

    def response(self) -> ProxyResponse:
        return ProxyResponse(self.status, self.body, dict(self.headers), delay=self.delay)


class _TrackingProtocol(asyncio.StreamReaderProtocol):
    """Stream protocol that keeps its raw transport in a set while connected."""

    def __init__(
        self,
        registry: set[asyncio.Transport],
        reader: asyncio.StreamReader,
        cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
    ) -> None:
        super().__init__(reader, cb)
        self._registry = registry
        self._raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a TCP server's: readable and writable
        self._raw = transport
        self._registry.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self._raw)
        super().connection_lost(exc)


class _CloseConnection(Exception):
    """Internal: stop serving this connection."""


class ReplayProxy:
    """A forward HTTP/HTTPS proxy on 127.0.0.1 that answers from a route table.

    The asyncio server runs in a daemon thread; every public method is
    thread-safe.  Handlers run on the proxy's event-loop thread and should be
    quick (use ``ProxyResponse.delay`` to simulate slowness).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_names: Iterable[str] = DEFAULT_CERT_NAMES,
    ) -> None:
        self.host = host
        self.port = port
        self.cert_names: tuple[str, ...] = tuple(cert_names)
        self.requests: list[ProxyRequest] = []
        #: The ``host:port`` of every CONNECT, in arrival order (a tunnel may carry no request).
        self.connects: list[str] = []
        self._routes: dict[str, _Route] = {}
        self._handlers: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        self._default_ctx = self._make_context(self.cert_names)
        self._host_ctx: dict[str, ssl.SSLContext] = {}
        self.ca_pem_path: str = self._write_ca_file()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.Transport] = set()
        #: Number of client TCP connections accepted (CONNECT tunnels included).
        self.connections_accepted = 0

    # ------------------------------------------------------------------ lifecycle

    def _write_ca_file(self) -> str:
        fd, path = tempfile.mkstemp(prefix="replay-proxy-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as fh:
            fh.write(self._ca.cert_pem.bytes())
        return path

    @property
    def url(self) -> str:
        """Proxy URL for ``http_proxy``/``https_proxy``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate (PEM) that signs the proxy's leaf certificates."""
        return self._ca.cert_pem.bytes()

    def trust_client_context(self, ctx: ssl.SSLContext) -> None:
        """Make a client ``SSLContext`` trust this proxy's CA."""
        self._ca.configure_trust(ctx)

    def start(self) -> Self:
        """Start the server thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        if not os.path.exists(self.ca_pem_path):  # restarted after stop()
            self.ca_pem_path = self._write_ca_file()
        ready = threading.Event()
        error: list[OSError] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(self._make_protocol, self.host, self.port))
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:  # e.g. port in use; re-raised by start()
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"ReplayProxy-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("replay proxy failed to start")
        if error:
            self._thread.join()
            self._thread = None
            raise error[0]
        return self

    def stop(self) -> None:
        """Close the listener and all connections, join the thread, delete the CA file."""
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                with contextlib.suppress(Exception):
                    fut.result(timeout=5)
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._thread = None
        with contextlib.suppress(OSError):
            os.unlink(self.ca_pem_path)

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        server = self._server
        # Stop accepting first but keep the server open: a connection accepted
        # just before Server.close() would otherwise trip asyncio's
        # Server._attach() assertion (3.11) and its socket would leak until GC.
        # Let in-flight accepts register their transports, then abort them all.
        if server is not None:
            for sock in server.sockets:
                loop.remove_reader(sock.fileno())
        for _ in range(10):
            await asyncio.sleep(0)
        for transport in list(self._transports):
            transport.abort()
        if server is not None:
            server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ routes

    def add(
        self,
        url: str,
        body: bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Serve ``body`` at exactly ``url`` (and at ``url`` + any query, via the fallback),
        ``delay`` seconds after each request arrives."""
        hdrs = dict(headers or {})
        if not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = DEFAULT_CONTENT_TYPE
        with self._lock:
            self._routes[normalize_url(url)] = _Route(bytes(body), status, hdrs, delay)

    def add_handler(self, prefix: str, fn: Handler) -> None:
        """Answer URLs (query stripped) starting with ``prefix`` dynamically; longest prefix wins."""
        with self._lock:
            self._handlers = [(p, f) for p, f in self._handlers if p != prefix]
            self._handlers.append((prefix, fn))
            self._handlers.sort(key=lambda pf: len(pf[0]), reverse=True)

    def remove(self, url: str) -> None:
        """Remove a static route or a handler registered under exactly ``url``."""
        with self._lock:
            self._routes.pop(normalize_url(url), None)
            self._handlers = [(p, f) for p, f in self._handlers if p != url]

    def clear(self) -> None:
        """Remove all routes and handlers."""
        with self._lock:
            self._routes.clear()
            self._handlers = []

    def resolve(self, request: ProxyRequest) -> ProxyResponse:
        """Answer ``request`` from the route table (exact, no-query, handler, 404)."""
        url = normalize_url(request.url)
        bare = _strip_query(url)
        with self._lock:
            route = self._routes.get(url) or self._routes.get(bare)
            handler = None
            if route is None:
                for prefix, fn in self._handlers:
                    if bare.startswith(prefix):
                        handler = fn
                        break
        if route is not None:
            return route.response()
        if handler is not None:
            try:
                resp = handler(request)
                if not isinstance(resp, ProxyResponse):
                    raise TypeError(f"handler returned {type(resp).__name__}, not ProxyResponse")
                if resp.fault not in _FAULTS:
                    raise ValueError(f"unknown fault {resp.fault!r}")
                return resp
            except Exception as exc:
                log.exception("replay proxy handler failed for %s %s", request.method, request.url)
                return ProxyResponse(
                    500,
                    f"replay proxy handler error: {exc!r}\n".encode(),
                    {"Content-Type": "text/plain; charset=utf-8"},
                )
        return ProxyResponse(
            404,
            f"replay proxy: no route for {request.url}\n".encode(),
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    # ------------------------------------------------------------------ request log

    def _log_request(self, request: ProxyRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self, substring: str) -> int:
        """Number of logged requests whose URL contains ``substring``."""
        with self._lock:
            return sum(1 for r in self.requests if substring in r.url)

    def urls(self) -> list[str]:
        """Snapshot of the logged request URLs, in arrival order."""
        with self._lock:
            return [r.url for r in self.requests]

    def arrivals(self, substring: str) -> list[float]:
        """When each logged request whose URL contains ``substring`` arrived (monotonic)."""
        with self._lock:
            return [r.at for r in self.requests if substring in r.url]

    def reset_log(self) -> None:
        """Forget all logged requests and CONNECTs."""
        with self._lock:
            self.requests.clear()
            self.connects.clear()

    # ------------------------------------------------------------------ TLS

    def _make_context(self, names: Iterable[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*names).configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _context_for(self, host: str) -> ssl.SSLContext:
        """Server context whose certificate covers ``host`` (called on the loop thread)."""
        if _cert_covers(self.cert_names, host):
            return self._default_ctx
        ctx = self._host_ctx.get(host)
        if ctx is None:
            ctx = self._host_ctx[host] = self._make_context([host])
        return ctx

    # ------------------------------------------------------------------ connection handling

    def _make_protocol(self) -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=_MAX_HEAD)
        return _TrackingProtocol(self._transports, reader, self._serve_connection)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections_accepted += 1
        try:
            await self._serve_requests(reader, writer, tunnel_host=None)
        except (
            _CloseConnection,
            ConnectionError,
            asyncio.IncompleteReadError,
            ssl.SSLError,
        ):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("replay proxy connection error")
        finally:
            self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_requests(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tunnel_host: str | None,
    ) -> None:
        """Serve HTTP/1.1 requests on one connection until it closes."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError:
                await self._send_simple(writer, 431, b"request header too large\n", close=True)
                return
            lines = head.decode("latin-1").split("\r\n")
            request_line = lines[0]
            if not request_line:  # stray CRLF between requests
                lines = lines[1:]
                request_line = lines[0] if lines else ""
            try:
                method, target, version = request_line.split(" ", 2)
            except ValueError:
                await self._send_simple(writer, 400, b"bad request line\n", close=True)
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                key = name.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            conn_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
            http10 = version.upper() == "HTTP/1.0"
            keep_alive = "keep-alive" in conn_tokens if http10 else "close" not in conn_tokens

            if method.upper() == "CONNECT" and tunnel_host is None:
                await self._handle_connect(reader, writer, target)
                return

            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await self._read_body(reader, headers)
            url = self._request_url(target, headers, tunnel_host)
            if url is None:
                await self._send_simple(writer, 400, b"cannot determine request URL\n", close=True)
                return
            request = ProxyRequest(method.upper(), url, headers, body)
            self._log_request(request)
            response = self.resolve(request)
            if response.delay > 0:
                await asyncio.sleep(response.delay)
            while response.hold is not None and not response.hold.is_set():
                await asyncio.sleep(_HOLD_POLL)  # cancelled with the connection when the proxy stops
            if response.fault == "drop":
                writer.close()
                raise _CloseConnection
            await self._send_response(writer, request, response, keep_alive)
            if not keep_alive or response.fault == "truncate":
                raise _CloseConnection

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        """Read a Content-Length or chunked request body."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > 0:
            return await reader.readexactly(int(length))
        return b""

    @staticmethod
    def _request_url(target: str, headers: dict[str, str], tunnel_host: str | None) -> str | None:
        """Absolute URL for a request target (absolute-form or origin-form)."""
        if "://" in target[:10]:
            return normalize_url(target)
        if not target.startswith("/"):
            target = "/" + target if target != "*" else "/"
        scheme = "https" if tunnel_host is not None else "http"
        authority = headers.get("host") or tunnel_host
        if not authority:
            return None
        return normalize_url(f"{scheme}://{authority}{target}")

    async def _handle_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
        """Acknowledge CONNECT, terminate TLS and serve the tunnelled requests."""
        host, port = _split_authority(target, 443)
        with self._lock:
            self.connects.append(target)
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        ctx = self._context_for(host)
        await writer.start_tls(ctx)
        authority = host if port == 443 else f"{host}:{port}"
        if ":" in host and port == 443:
            authority = f"[{host}]"
        await self._serve_requests(reader, writer, tunnel_host=authority)

    @staticmethod
    def _response_head(status: int, headers: dict[str, str], length: int, keep_alive: bool) -> bytes:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        out = [f"HTTP/1.1 {status} {reason}"]
        lowered = set()
        for name, value in headers.items():
            low = name.lower()
            if low in ("content-length", "connection", "transfer-encoding"):
                continue
            lowered.add(low)
            out.append(f"{name}: {value}")
        if "date" not in lowered:
            out.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        out.append(f"Content-Length: {length}")
        out.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    async def _send_response(
        self,
        writer: asyncio.StreamWriter,
        request: ProxyRequest,
        response: ProxyResponse,
        keep_alive: bool,
    ) -> None:
        body = response.body
        if response.fault == "truncate":
            keep_alive = False
        head = self._response_head(response.status, response.headers, len(body), keep_alive)
        no_body = request.method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        if no_body:
            payload = head
        elif response.fault == "truncate":
            payload = head + body[: len(body) // 2]
        else:
            payload = head + body
        writer.write(payload)
        await writer.drain()

    async def _send_simple(self, writer: asyncio.StreamWriter, status: int, body: bytes, close: bool) -> None:
        head = self._response_head(status, {"Content-Type": "text/plain"}, len(body), not close)
        writer.write(head + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


# ---------------------------------------------------------------------- Sina roll API


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class RollApi:
    """Fake of Sina's roll API (``feed.mix.sina.com.cn/api/roll/get``).

    ``listings`` maps ``(pageid, lid)`` (strings) to the full item list, newest
    first; it may be mutated between crawls.  Register with
    ``proxy.add_handler(api.prefix, api)`` or :meth:`install`.
    """

    prefix = ROLL_API_PREFIX
    max_num = 50

    def __init__(self, listings: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> None:
        self.listings: dict[tuple[str, str], list[dict[str, Any]]] = dict(listings or {})

    def install(self, proxy: ReplayProxy) -> RollApi:
        """Register this API on ``proxy`` and return self."""
        proxy.add_handler(self.prefix, self)
        return self

    def envelope(self, pageid: str, lid: str, num: int = 50, page: int = 1) -> dict[str, Any]:
        """The JSON document the API returns for these parameters."""
        items = self.listings.get((str(pageid), str(lid)))
        if items is None:
            return {"result": {"status": {"code": 1, "msg": "lid not found"}, "data": []}}
        num = max(1, min(num, self.max_num))
        page = max(1, page)
        data = list(items[(page - 1) * num : page * num])
        lid_value: int | str = _as_int(lid) if str(lid).isdigit() else lid
        return {
            "result": {
                "status": {"code": 0, "msg": "succ"},
                "timestamp": time.strftime("%a %b %d %H:%M:%S +0800 %Y"),
                "top": [],
                "pdps": [],
                "cre": [],
                "total": len(items),
                "end": _as_int(data[-1].get("ctime")) if data else 0,
                "start": _as_int(data[0].get("ctime")) if data else 0,
                "lid": lid_value,
                "rtime": time.time(),
                "data": data,
            }
        }

    def __call__(self, request: ProxyRequest) -> ProxyResponse:
        """Handle one roll API request (``callback=`` gives Sina-style JSONP)."""
        q = request.query
        doc = self.envelope(
            q.get("pageid", ""),
            q.get("lid", ""),
            num=_as_int(q.get("num"), 50),
            page=_as_int(q.get("page"), 1),
        )
        text = json.dumps(doc, separators=(",", ":"))
        callback = q.get("callback")
        if callback:
            body = f"try{{{callback}({text});}}catch(e){{}};".encode()
            ctype = "application/javascript; charset=utf-8"
        else:
            body = text.encode()
            ctype = "application/json; charset=utf-8"
        return ProxyResponse(200, body, {"Content-Type": ctype})


class ZhiboApi:
    """Fake of Sina's 7x24 live API (``zhibo.sina.com.cn/api/zhibo/feed``), in the envelope
    of the recorded answer (tests/recorded/zhibo.api.zhibo.feed_zhibo_id152_page1…json).

    ``channels`` maps a ``zhibo_id`` (string) to its flashes, newest first; it may be
    mutated between crawls.  An unknown channel answers ``status.code`` 1."""

    prefix = "https://zhibo.sina.com.cn/api/zhibo/feed"

    def __init__(self, channels: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.channels: dict[str, list[dict[str, Any]]] = dict(channels or {})

    def install(self, proxy: ReplayProxy) -> ZhiboApi:
        proxy.add_handler(self.prefix, self)
        return self

    def envelope(self, zhibo_id: str, page: int = 1, page_size: int = 20) -> dict[str, Any]:
        flashes = self.channels.get(str(zhibo_id))
        if flashes is None:
            return {"result": {"status": {"code": 1, "msg": "zhibo_id not found"}, "data": {}}}
        page_size = max(1, min(page_size, 100))
        page = max(1, page)
        total_pages = max(1, -(-len(flashes) // page_size))
        data = flashes[(page - 1) * page_size : page * page_size]
        return {
            "result": {
                "status": {"code": 0, "msg": "OK"},
                "timestamp": time.strftime("%a %b %d %H:%M:%S +0800 %Y"),
                "data": {
                    "zhibo": [],
                    "focus": [],
                    "top": {"list": [], "html": "", "top_ids": "", "survey_id": []},
                    "feed": {
                        "list": data,
                        "html": "",
                        "page_info": {
                            "totalPage": total_pages,
                            "pageSize": page_size,
                            "prePage": max(1, page - 1),
                            "nextPage": min(total_pages, page + 1),
                            "firstPage": 1,
                            "lastPage": total_pages,
                            "totalNum": len(flashes),
                            "pName": "page",
                            "page": page,
                        },
                        "max_id": data[0].get("id", 0) if data else 0,
                        "min_id": data[-1].get("id", 0) if data else 0,
                        "survey_id": [],
                    },
                },
            }
        }

    def __call__(self, request: ProxyRequest) -> ProxyResponse:
        q = request.query
        doc = self.envelope(q.get("zhibo_id", ""), _as_int(q.get("page"), 1), _as_int(q.get("page_size"), 20))
        return ProxyResponse(200, json.dumps(doc, ensure_ascii=False).encode(), {"Content-Type": "application/json"})


class FeedApi:
    """Fake of Sina's JSON channel lists (``interface.sina.cn/pc_api/public_news_data.d.json``):
    ``lists`` maps ``cids`` to its items (``{title, url, ctime, media}``), newest first."""

    prefix = "https://interface.sina.cn/pc_api/public_news_data.d.json"

    def __init__(self, lists: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = dict(lists or {})

    def install(self, proxy: ReplayProxy) -> FeedApi:
        proxy.add_handler(self.prefix, self)
        return self

    def __call__(self, request: ProxyRequest) -> ProxyResponse:
        q = request.query
        items = self.lists.get(q.get("cids", ""))
        if items is None:
            doc: dict[str, Any] = {"status": {"code": 1, "msg": "cids not found"}, "data": []}
        else:
            doc = {"status": {"code": 0, "msg": "succ"}, "data": items[: _as_int(q.get("pageSize"), 50)]}
        return ProxyResponse(200, json.dumps(doc, ensure_ascii=False).encode(), {"Content-Type": "application/json"})


# ---------------------------------------------------------------------- corpus


@dataclass
class CorpusCase:
    """One recorded article: page HTML, roll API item and expected Markdown output."""

    name: str
    page: bytes
    item: dict[str, Any]
    expected: bytes  # HEXO_BODY=clean, the default
    expected_path: str
    expected_sample: bytes = b""  # HEXO_BODY=sample

    @property
    def https_url(self) -> str:
        """The item's URL with the scheme upgraded to https."""
        return _to_https(self.item["url"])


def _to_https(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("https", *parts[1:])) if parts.scheme == "http" else url


def load_corpus(corpus_dir: Path) -> list[CorpusCase]:
    """Load every case folder (``page.html``, ``item.json``, ``expected.md``,
    ``expected_sample.md`` when there is one, ``expected_path.txt``)."""
    corpus_dir = Path(corpus_dir)
    cases = []
    for folder in sorted(p for p in corpus_dir.iterdir() if p.is_dir()):
        if not (folder / "item.json").is_file():
            continue
        expected_path = (folder / "expected_path.txt").read_text(encoding="utf-8")
        expected_path = expected_path.removesuffix("\n").removesuffix("\r")
        cases.append(
            CorpusCase(
                name=folder.name,
                page=(folder / "page.html").read_bytes(),
                item=json.loads((folder / "item.json").read_text(encoding="utf-8")),
                expected=(folder / "expected.md").read_bytes(),
                expected_path=expected_path,
                expected_sample=sample.read_bytes() if (sample := folder / "expected_sample.md").is_file() else b"",
            )
        )
    return cases


def serve_corpus(
    proxy: ReplayProxy,
    cases: Iterable[CorpusCase],
    pageid: str = "155",
    lid: str = "1686",
) -> RollApi:
    """Serve each case's page at its https URL and a roll API listing of all items (newest first)."""
    cases = list(cases)
    for case in cases:
        url = case.https_url
        proxy.add(url, case.page)
        proxy.add(_strip_query(url), case.page)
    items = sorted((c.item for c in cases), key=lambda it: _as_int(it.get("ctime")), reverse=True)
    api = RollApi({(str(pageid), str(lid)): items})
    return api.install(proxy)


def busiest_window(times: Iterable[float], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any ``window`` seconds (a sliding window)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


# ---------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Serve a corpus until interrupted."""
    parser = argparse.ArgumentParser(description="Local replay proxy serving a Sina corpus.")
    parser.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--pageid", default="155")
    parser.add_argument("--lid", default="1686")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cases = load_corpus(args.corpus)
    # Ctrl-C (SIGINT) or SIGTERM is a clean stop.  The handlers only set an event that the
    # main thread polls, so no KeyboardInterrupt lands in the middle of a print or of the
    # shutdown, and a signal the kernel hands to the proxy's thread is still seen.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck stop can be looked at
    with ReplayProxy(port=args.port) as proxy:
        serve_corpus(proxy, cases, pageid=args.pageid, lid=args.lid)
        print(f"proxy listening on {proxy.url}", flush=True)
        print(f"{len(cases)} cases; CA certificate: {proxy.ca_pem_path}", flush=True)
        while not stopping.wait(0.2):
            pass
        logging.info("stopping")
    logging.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
