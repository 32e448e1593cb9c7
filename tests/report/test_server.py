"""The dashboard server (report/server.py) against misbehaving clients, over real loopback
sockets: clients that hang up mid-answer, requests that never finish, and many slow
connections at once. Every loop here is bounded and ends by itself."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time

import optuna
import pytest

from curvecast.report.live import LiveStudy
from curvecast.report.server import DashboardServer

PLOTLY = "/static/plotly.min.js"  # the largest answer (megabytes): hang-ups land mid-answer


@pytest.fixture(scope="module")
def study_url(tmp_path_factory) -> str:
    """A small SQLite study: 4 finished trials of 6 falling points each."""
    url = f"sqlite:///{tmp_path_factory.mktemp('server') / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name="s")
    for t in range(4):
        trial = study.ask()
        for step in range(1, 7):
            trial.report(1.0 + 0.1 * t + 1.0 / step, step)
        study.tell(trial, 1.0 + 0.1 * t + 1.0 / 6)
    return url


def _serve(url: str, **kwargs) -> DashboardServer:
    srv = DashboardServer(LiveStudy(url, "s"), port=0, refresh=5.0, **kwargs)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv


def _connect(srv: DashboardServer, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # a small window: the server cannot push the whole answer ahead
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(srv.server_address[:2])
    return s


def _request(srv: DashboardServer, path: str = "/") -> bytes:
    port = srv.server_address[1]
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def _get_status(srv: DashboardServer, path: str = "/") -> int | None:
    """Status of one plain GET (its whole answer read); None if the connection failed."""
    try:
        with _connect(srv) as s:
            s.sendall(_request(srv, path))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``s`` (EOF or reset), None if still open after."""
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return time.monotonic() - t0


def test_clients_hanging_up_mid_answer_print_no_traceback(study_url, capfd, caplog):
    srv = _serve(study_url, threads=4)
    try:
        with caplog.at_level(logging.DEBUG, logger="curvecast.report.server"):
            for _ in range(20):
                s = _connect(srv, rcvbuf=4096)
                s.sendall(_request(srv, PLOTLY))
                assert s.recv(100).startswith(b"HTTP/1.0 200")
                # reset at once (SO_LINGER 0) with most of the answer unread
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            assert _get_status(srv) == 200  # still serving
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    "went away" in r.getMessage() for r in caplog.records):
                time.sleep(0.05)
    finally:
        srv.close()
    went_away = [r for r in caplog.records if "went away" in r.getMessage()]
    assert went_away, "no hang-up reached the server mid-answer: the test proved nothing"
    assert all(r.levelno == logging.DEBUG and r.exc_info is None for r in went_away)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err[:2000]


def test_a_request_that_never_ends_is_closed_after_the_timeout(study_url, capfd):
    srv = _serve(study_url, timeout=0.5)
    try:
        with _connect(srv) as s:  # a bare request line, never the blank line after it
            s.sendall(b"GET / HTTP/1.1\r\n")
            took = _closed_within(s, 5.0)
            assert took is not None and took < 3.0, took
        with _connect(srv) as s:  # a header trickled a byte at a time: the timeout is total
            t0 = time.monotonic()
            s.sendall(b"GET / HTTP/1.1\r\n")
            closed = False
            for byte in b"X-Slow: " + b"a" * 40:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if _closed_within(s, 0.1) is not None:
                    closed = True
                    break
            assert closed and time.monotonic() - t0 < 3.0
        assert _get_status(srv) == 200
    finally:
        srv.close()
    assert "Traceback" not in capfd.readouterr().err


def test_many_slow_connections_leave_threads_bounded_and_the_page_served(study_url, capfd):
    before = threading.active_count()
    srv = _serve(study_url, threads=4, queued=8, timeout=1.0)
    slow = []
    try:
        for _ in range(60):  # 15x the pool, each sending half a request
            s = _connect(srv)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        time.sleep(0.3)
        # the workers, the poller and serve_forever's thread; no thread per connection
        assert threading.active_count() - before <= 4 + 2
        status, deadline = None, time.monotonic() + 15
        while status != 200 and time.monotonic() < deadline:
            status = _get_status(srv)
            if status != 200:
                assert status in (None, 503)
                time.sleep(0.1)
        assert status == 200
        assert threading.active_count() - before <= 4 + 2
        # every slow connection was answered 503 or closed (timeout), none is left open
        answers = []
        for s in slow:
            s.settimeout(5)
            try:
                answers.append(s.recv(100))
            except (TimeoutError, ConnectionError) as exc:
                answers.append(type(exc).__name__.encode())
        assert all(a == b"" or a.startswith(b"HTTP/1.0 503") or a == b"ConnectionResetError"
                   for a in answers), set(answers)
        assert any(a.startswith(b"HTTP/1.0 503") for a in answers)  # the queue filled
    finally:
        for s in slow:
            s.close()
        srv.close()
    assert "Traceback" not in capfd.readouterr().err


def test_bad_pool_settings_are_refused(study_url):
    with pytest.raises(ValueError, match="threads >= 1"):
        DashboardServer(LiveStudy(study_url, "s"), port=0, threads=0)
