"""The dashboard's web server: one static page, its scripts, and the study's state as JSON.

Read-only by construction: the handler answers GET and HEAD only (anything else is
refused with 501 by the standard library), the study is opened read-only, and the state
is rebuilt by one background thread every ``refresh`` seconds, never by a request, so
no number of open pages multiplies the database's load. The page shows data only
through ``textContent`` and escaped plotly text (``static/dashboard.js``); the Content
Security Policy allows scripts from this server alone. Requests whose ``Host`` is not
the address served are refused, so a web page elsewhere cannot read the study through
DNS rebinding.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

from .page import script_json

logger = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOCAL = {"127.0.0.1", "localhost", "::1"}


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


class _Handler(BaseHTTPRequestHandler):
    server_version = "curvecast"
    sys_version = ""

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


class DashboardServer(ThreadingHTTPServer):
    """Serves the dashboard of ``live`` (a :class:`~.live.LiveStudy`) at (host, port);
    port 0 picks a free one (see :attr:`url`). Call :meth:`serve_forever`, and
    :meth:`close` from another thread to stop.

    >>> from curvecast.report.server import DashboardServer  # doctest: +SKIP
    >>> server = DashboardServer(LiveStudy("sqlite:///s.db", "s"))  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
    """

    daemon_threads = True

    def __init__(self, live, host: str = "127.0.0.1", port: int = 8050, refresh: float = 2.0):
        from plotly.offline import get_plotlyjs

        self.poller = _Poller(live, refresh)
        super().__init__((host, port), _Handler)
        self.hosts = LOCAL | {host.strip("[]")} if host not in ("0.0.0.0", "::") else _Any()
        page = _static("dashboard.html").replace(b"{{refresh}}", str(refresh).encode())
        self.routes = {
            "/": (page, "text/html"),
            "/static/dashboard.js": (_static("dashboard.js"), "text/javascript"),
            "/static/plotly.min.js": (get_plotlyjs().encode(), "text/javascript"),
        }
        self.poller.start()

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


class _Any:
    """Every Host (the user chose to serve on all interfaces)."""

    def __contains__(self, host) -> bool:
        return True
