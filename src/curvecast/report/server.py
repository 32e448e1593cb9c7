"""The dashboard's web server: one static page, its scripts, and the study's state as JSON.

Read-only by construction: the handler answers GET and HEAD only (anything else is
refused with 501 by the standard library), the study is opened read-only, and the state
is rebuilt by one background thread every ``refresh`` seconds, never by a request, so
no number of open pages multiplies the database's load. The page shows data only
through ``textContent`` and escaped plotly text (``static/dashboard.js``); the Content
Security Policy allows scripts from this server alone. Requests whose ``Host`` is not
the address served are refused, so a web page elsewhere cannot read the study through
DNS rebinding.

A misbehaving client costs little: a fixed pool of handler threads serves the
connections (a few more wait in a short queue; beyond it a connection is answered 503
at once), each connection has ``timeout`` seconds from its accept to send its request
(a client that sends a header a byte at a time is dropped, however slowly it trickles),
each piece of the answer must be taken within ``timeout`` too, and a client that
disconnects mid-answer is one debug log line, not a traceback.
"""

from __future__ import annotations

import io
import logging
import queue
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

from .page import script_json

logger = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOCAL = {"127.0.0.1", "localhost", "::1"}
CHUNK = 64 * 1024
"""Bytes of an answer sent at a time; a client must take each within the timeout."""
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n")


def _static(name: str) -> bytes:
    return files("curvecast.report").joinpath("static", name).read_bytes()


class _Poller(threading.Thread):
    """Rebuilds the state every ``refresh`` seconds; a failure is shown, not fatal."""

    def __init__(self, live, refresh: float) -> None:
        super().__init__(name="curvecast-dashboard-poll", daemon=True)
        self.live, self.refresh = live, refresh
        self.stop = threading.Event()
        self._publish(live.snapshot())

    def _publish(self, state: dict) -> None:
        """The whole state, and the short answer for a page that has this version (the
        whole is written again only when the version changed or an error is shown)."""
        short = {k: state.get(k) for k in ("version", "checked", "error")}
        key = (state["version"], state.get("error"))
        old = getattr(self, "current", None)
        whole = old[1] if old is not None and old[0] == key else script_json(state).encode()
        self.current = (key, whole, script_json({**short, "unchanged": True}).encode())

    def body(self, since: str | None) -> bytes:
        (version, _), whole, short = self.current
        return short if since == str(version) else whole

    def run(self) -> None:
        while not self.stop.wait(self.refresh):
            try:
                self._publish(self.live.snapshot())
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the page
                logger.warning("cannot read the study: %s", exc)
                state = dict(self.live._state or {})
                state["error"] = f"cannot read the study: {type(exc).__name__}: {exc}"[:300]
                self._publish(state)


class _DeadlineReader(io.RawIOBase):
    """Reads the socket until ``deadline`` (time.monotonic) and not after: the timeout
    bounds the whole request, not each read, so trickling bytes does not extend it."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _ChunkWriter(io.BufferedIOBase):
    """Sends in CHUNK pieces, each of which the client must take within ``timeout``."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.timeout = sock, timeout

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self.sock.settimeout(self.timeout)
        for i in range(0, len(view), CHUNK):
            self.sock.sendall(view[i:i + CHUNK])
        return len(view)


class _Handler(BaseHTTPRequestHandler):
    server_version = "curvecast"
    sys_version = ""

    def __init__(self, request, client_address, server, deadline: float | None = None):
        self.deadline = time.monotonic() + server.conn_timeout if deadline is None else deadline
        super().__init__(request, client_address, server)

    def setup(self) -> None:  # in place of StreamRequestHandler's socket files
        self.connection = self.request
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.deadline))
        self.wfile = _ChunkWriter(self.connection, self.server.conn_timeout)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        host = urlsplit(f"//{self.headers.get('Host', '')}").hostname or ""
        if host not in self.server.hosts:
            return self._send(HTTPStatus.FORBIDDEN, b"unknown Host", "text/plain", body)
        url = urlsplit(self.path)
        routes = self.server.routes
        if url.path not in routes and url.path != "/api/state":
            return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain", body)
        if url.path == "/api/state":  # ?since=VERSION: the page has it; a short answer
            since = parse_qs(url.query).get("since", [None])[0]
            return self._send(HTTPStatus.OK, self.server.poller.body(since), "application/json",
                              body, cache="no-store")
        content, kind = routes[url.path]
        self._send(HTTPStatus.OK, content, kind, body, cache="no-cache")

    def _send(self, status, content: bytes, kind: str, body: bool, cache: str = "no-store"):
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, fmt: str, *args) -> None:
        logger.debug("%s " + fmt, self.address_string(), *args)


class DashboardServer(HTTPServer):
    """Serves the dashboard of ``live`` (a :class:`~.live.LiveStudy`) at (host, port);
    port 0 picks a free one (see :attr:`url`). Call :meth:`serve_forever`, and
    :meth:`close` from another thread to stop.

    ``threads`` handler threads serve the connections; up to ``queued`` more wait for
    one, and a connection beyond those is answered 503 (Retry-After: 1). A connection
    has ``timeout`` seconds from its accept to send its request, waiting included.

    >>> from curvecast.report.server import DashboardServer  # doctest: +SKIP
    >>> server = DashboardServer(LiveStudy("sqlite:///s.db", "s"))  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
    """

    request_queue_size = 64  # the listen backlog: bursts wait in the kernel, not here

    def __init__(self, live, host: str = "127.0.0.1", port: int = 8050, refresh: float = 2.0,
                 *, threads: int = 8, queued: int = 32, timeout: float = 5.0):
        from plotly.offline import get_plotlyjs

        if threads < 1 or queued < 0 or not timeout > 0:
            raise ValueError(f"need threads >= 1, queued >= 0 and timeout > 0, got "
                             f"{threads}, {queued}, {timeout}")
        self.conn_timeout = float(timeout)
        self.poller = _Poller(live, refresh)
        super().__init__((host, port), _Handler)
        # room for a stop sentinel per worker even when the queue is full
        self._waiting: queue.Queue = queue.Queue(maxsize=queued + threads)
        self._queued = queued
        self._workers = [threading.Thread(target=self._work, name=f"curvecast-dashboard-{i}",
                                          daemon=True) for i in range(threads)]
        self.hosts = LOCAL | {host.strip("[]")} if host not in ("0.0.0.0", "::") else _Any()
        page = _static("dashboard.html").replace(b"{{refresh}}", str(refresh).encode())
        self.routes = {
            "/": (page, "text/html"),
            "/static/dashboard.js": (_static("dashboard.js"), "text/javascript"),
            "/static/plotly.min.js": (get_plotlyjs().encode(), "text/javascript"),
        }
        self.poller.start()
        for w in self._workers:
            w.start()

    def process_request(self, request, client_address) -> None:
        """Queue the connection for a handler thread, or answer 503 when all are taken."""
        if self._waiting.qsize() >= self._queued:
            self._refuse(request)
            return
        self._waiting.put((request, client_address, time.monotonic() + self.conn_timeout))

    def _refuse(self, request) -> None:
        try:
            request.setblocking(False)
            request.send(BUSY)  # fits the socket buffer: never blocks the accept loop
        except OSError:
            pass
        logger.debug("dashboard busy: a connection was answered 503")
        self.shutdown_request(request)

    def _work(self) -> None:
        while (item := self._waiting.get()) is not None:
            request, client_address, deadline = item
            try:
                if time.monotonic() < deadline:  # waited its whole timeout: just close
                    self.RequestHandlerClass(request, client_address, self, deadline)
            except Exception:  # noqa: BLE001 - one bad connection must not end the worker
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """One log line, never a traceback: a client that went away is routine (debug);
        anything else is a warning naming the client and the error."""
        exc = sys.exc_info()[1]
        who = client_address[0] if client_address else "?"
        if isinstance(exc, (ConnectionError, TimeoutError)):
            logger.debug("dashboard client %s went away: %s", who, exc)
        else:
            logger.warning("dashboard request from %s failed: %s: %s", who,
                           type(exc).__name__, exc)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def close(self) -> None:
        """Stop polling and serving (from another thread, or after serve_forever ended)."""
        self.poller.stop.set()
        self.shutdown()
        self.server_close()
        while True:  # connections still waiting are closed, then each worker stops
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for _ in self._workers:
            self._waiting.put(None)


class _Any:
    """Every Host (the user chose to serve on all interfaces)."""

    def __contains__(self, host) -> bool:
        return True
