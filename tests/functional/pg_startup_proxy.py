"""A TCP front for the local warehouse that Redshift's driver can talk to.

The embedded PostgreSQL listens on a Unix socket only, and ``redshift_connector`` sends
startup parameters PostgreSQL rejects (``client_protocol_version``, ``driver_version``,
``os_version``, …: "unrecognized configuration parameter"). :class:`PgStartupProxy`
listens on ``127.0.0.1``, answers ``SSLRequest``/``GSSENCRequest`` with "no" (connect with
``ssl=False``), rewrites the startup message to the parameters PostgreSQL knows, and then
copies bytes both ways untouched: every query, COPY and transaction command is
PostgreSQL's own handling. Optionally it asks the client for a cleartext password first
(PostgreSQL's ``AuthenticationCleartextPassword``), so a test can prove which password
the driver sent; the embedded server itself trusts local connections.

Nothing secret is logged: only the names of dropped parameters.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "KEPT_STARTUP_PARAMETERS",
    "PgStartupProxy",
    "ProxyStartupError",
    "parse_startup_parameters",
    "render_startup_message",
    "unix_socket_of",
]

log = logging.getLogger(__name__)

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

KEPT_STARTUP_PARAMETERS = frozenset({
    "user", "database", "options", "application_name", "client_encoding", "replication",
    "DateStyle", "TimeZone", "extra_float_digits", "search_path",
})
"""Startup parameters forwarded to PostgreSQL; everything else is dropped."""


class ProxyStartupError(RuntimeError):
    """A client's startup message could not be understood."""


def parse_startup_parameters(body: bytes) -> dict[str, str]:
    """``key\\0value\\0…\\0`` (the StartupMessage after the protocol version) -> dict."""
    parts = body.split(b"\x00")
    if len(parts) < 2 or parts[-1] != b"" or len(parts) % 2 != 0:
        raise ProxyStartupError("malformed startup parameters")
    pairs = parts[:-2] if parts[-2] == b"" else parts[:-1]
    if len(pairs) % 2:
        raise ProxyStartupError("startup parameters are not key/value pairs")
    return {pairs[i].decode(): pairs[i + 1].decode() for i in range(0, len(pairs), 2)}


def render_startup_message(params: dict[str, str]) -> bytes:
    """A protocol-3 StartupMessage with ``params`` (length-prefixed)."""
    body = b"".join(k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in params.items())
    body = struct.pack("!i", PROTOCOL_3) + body + b"\x00"
    return struct.pack("!i", len(body) + 4) + body


def unix_socket_of(uri: str) -> Path:
    """The Unix socket file of a ``postgresql://user@/db?host=/dir`` URI (port 5432)."""
    parts = urlsplit(uri)
    hosts = parse_qs(parts.query).get("host")
    if not hosts or not hosts[0].startswith("/"):
        raise ValueError("the URI names no Unix socket directory (?host=/…)")
    return Path(hosts[0]) / f".s.PGSQL.{parts.port or 5432}"


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        data += chunk
    return bytes(data)


def _read_startup(sock: socket.socket) -> tuple[int, bytes]:
    (length,) = struct.unpack("!i", _read_exact(sock, 4))
    if not 8 <= length <= 10_000:
        raise ProxyStartupError(f"implausible startup message length {length}")
    payload = _read_exact(sock, length - 4)
    (code,) = struct.unpack("!i", payload[:4])
    return code, payload[4:]


def _error_response(message: str) -> bytes:
    fields = b"SFATAL\x00VFATAL\x00C28P01\x00M" + message.encode() + b"\x00\x00"
    return b"E" + struct.pack("!i", len(fields) + 4) + fields


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@dataclass
class PgStartupProxy:
    """``127.0.0.1:<port>`` -> PostgreSQL's Unix socket, with startup parameters cleaned.

    Parameters
    ----------
    upstream:
        The server's Unix socket file (see :func:`unix_socket_of`).
    port:
        TCP port to listen on; 0 picks a free one (read :attr:`port` after ``start``).
    require_password:
        When set, clients must send this password (cleartext auth) before the proxy
        connects upstream.
    session_defaults:
        Startup parameters added when the client did not send them; by default
        ``TimeZone=UTC``, Redshift's session default.
    """

    upstream: Path
    port: int = 0
    require_password: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    session_defaults: dict[str, str] = field(default_factory=lambda: {"TimeZone": "UTC"})
    startups: list[dict[str, str]] = field(default_factory=list, repr=False)
    _server: socket.socket | None = field(default=None, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    def start(self) -> PgStartupProxy:
        """Bind, listen and serve in a daemon thread."""
        server = socket.create_server((self.host, self.port))
        self.port = server.getsockname()[1]
        self._server = server
        thread = threading.Thread(target=self._accept_loop, name="pg-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop accepting; open sessions end when either side closes."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()

    def __enter__(self) -> PgStartupProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._session, args=(client,), daemon=True)
            thread.start()

    def _session(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            code, body = _read_startup(client)
            while code in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")  # no TLS here: the driver must use ssl=False
                code, body = _read_startup(client)
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(self.upstream))
            if code == CANCEL_REQUEST:
                upstream.sendall(struct.pack("!ii", len(body) + 8, code) + body)
                return
            if code != PROTOCOL_3:
                raise ProxyStartupError(f"unsupported protocol code {code}")
            params = parse_startup_parameters(body)
            dropped = sorted(set(params) - KEPT_STARTUP_PARAMETERS)
            kept = {k: v for k, v in params.items() if k in KEPT_STARTUP_PARAMETERS}
            kept = {**self.session_defaults, **kept}
            if dropped:
                log.debug("dropping startup parameters PostgreSQL rejects: %s",
                          ", ".join(dropped))
            self.startups.append(kept)
            if self.require_password is not None and not self._password_ok(client):
                client.sendall(_error_response("password authentication failed"))
                return
            # the (trusting) server answers AuthenticationOk, which is what the client
            # expects after its password
            upstream.sendall(render_startup_message(kept))
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join(timeout=5)
        except (OSError, ConnectionError, ProxyStartupError) as exc:
            log.debug("proxy session ended: %s", type(exc).__name__)
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def _password_ok(self, client: socket.socket) -> bool:
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read_exact(client, 1)
        (length,) = struct.unpack("!i", _read_exact(client, 4))
        payload = _read_exact(client, length - 4)
        return kind == b"p" and payload.rstrip(b"\x00").decode() == self.require_password
