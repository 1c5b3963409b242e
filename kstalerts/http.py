"""One HTTP request over ``http.client``: TLS, proxies, keep-alive, a deadline.

An :class:`HTTPClient` talks to one URL. It sends a request and returns an
:class:`HTTPResponse` for any status, redirects included (they are never
followed): what a status means is the channel's business. Rules:

- One deadline per call. Connecting, the proxy tunnel, the TLS handshake,
  sending, and reading the status line, headers and body all finish before
  ``timeout`` runs out: every read sets the socket timeout to the time left,
  so a peer that trickles a byte a second cannot stretch a call.
- Keep-alive. A finished connection goes back to a small pool and the next
  call reuses it; a connection is never used by two calls at once.
- Fork. A forked child never uses a connection it inherited: it forgets
  them (closing only its own copy of the descriptor: no TLS close, no
  ``shutdown()``, so the parent's connection is untouched) and opens its
  own. The at-fork hook does it, and a pid check where a connection is
  taken from the pool catches a fork that bypassed the hook.
- The pool's lock is an ``RLock`` held only around a list operation: a
  signal handler that sends while its thread holds it goes through (at
  worst the pool ends one connection over its size), and a forked child
  gets a new one.
- TLS is verified (``ssl.create_default_context``, which honours
  ``SSL_CERT_FILE``) unless ``ssl_verify=False`` is passed explicitly.
- Proxies come from ``proxy=`` or ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
  (lower-case forms win); https goes through a ``CONNECT`` tunnel, http uses
  the absolute-form request target.
- Errors from ``socket``, ``ssl`` and ``http.client`` are translated here,
  once, into :class:`AlertDeliveryError` whose text names no URL.

``http.client`` and ``ssl`` are imported on first use.
"""

import base64
import io
import logging
import os
import re
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from . import _lifecycle
from ._secret import Secret
from .exceptions import AlertConfigurationError, AlertDeliveryError
from .limits import MAX_IDLE_CONNECTIONS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_RESPONSE_DEPTH

if TYPE_CHECKING:
    import ssl

__all__ = ("HTTPClient", "HTTPResponse", "check_headers")

_log = logging.getLogger("kstalerts.http")

_EMPTY: Mapping[str, str] = {}
_OWN_HEADERS = frozenset(("host", "content-length", "transfer-encoding", "connection"))
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HTTPResponse(NamedTuple):
    """A response: status, lower-cased headers and a body of at most the
    client's ``max_response_bytes`` (``truncated`` says the rest was left)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str = ""
    truncated: bool = False

    @property
    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` when it is not JSON (services
        answer errors in HTML or plain text as often as in JSON) or nests
        deeper than ``MAX_RESPONSE_DEPTH`` (which would exhaust the stack)."""
        return loads_bounded(self.body)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[][{}]")


def loads_bounded(body: bytes, max_depth: int = MAX_RESPONSE_DEPTH) -> Any:
    """``json.loads(body)`` for bytes a peer sent, or ``None`` when they are
    not UTF-8 JSON or nest deeper than ``max_depth``: the depth is counted
    (strings skipped) before the parser, which recurses, sees the text."""
    import json

    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        depth += 1 if match.group() in b"[{" else -1
        if depth > max_depth:
            return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


class _Endpoint(NamedTuple):
    scheme: str
    host: str
    port: int
    target: str  # path and query: may hold a token, so not in repr
    authorization: Optional[str] = None  # not in repr

    def __repr__(self) -> str:
        return f"_Endpoint(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r})"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _parse(url: str, key: str, schemes: Tuple[str, ...]) -> _Endpoint:
    """Check (:func:`kstalerts._url.check_url`) and split ``url``; errors name ``key``, never the value."""
    from urllib.parse import unquote, urlsplit

    from ._url import URLRule, check_url

    parts = urlsplit(check_url(url, key=key, rule=URLRule(schemes=schemes)))
    port = parts.port
    scheme = parts.scheme.lower()
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""  # check_url refused a URL without one
    return _Endpoint(scheme, host, port or (443 if scheme == "https" else 80), target, authorization)


def _env(name: str) -> str:
    value = os.environ.get(name.lower())
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in os.environ):
        value = os.environ.get(name)  # upper-case HTTP_PROXY is ignored under CGI (httpoxy)
    return (value or "").strip()


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` lists the host (exactly, as a domain suffix, or ``*``)."""
    host = host.lower().rstrip(".")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, sep, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if sep and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip("*").lstrip(".").rstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _choose_proxy(endpoint: _Endpoint, proxy: Optional[str]) -> Optional[_Endpoint]:
    if proxy is None:
        if _bypassed(endpoint.host, endpoint.port, _env("NO_PROXY")):
            return None
        proxy = _env("HTTPS_PROXY" if endpoint.scheme == "https" else "HTTP_PROXY")
    if not proxy:
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return _parse(proxy, "proxy", ("http",))


def _ssl_context(verify: bool, ca_bundle: Optional[str]) -> "ssl.SSLContext":
    import ssl

    try:
        if ca_bundle is None:
            context = ssl.create_default_context()
        elif os.path.isdir(ca_bundle):
            context = ssl.create_default_context(capath=ca_bundle)
        else:
            context = ssl.create_default_context(cafile=ca_bundle)
    except ssl.SSLError:
        raise AlertConfigurationError("is not a PEM file of CA certificates", key="ssl_ca_bundle") from None
    except OSError as exc:
        raise AlertConfigurationError(
            f"cannot read the CA bundle: {exc.strerror or type(exc).__name__}", key="ssl_ca_bundle"
        ) from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Connection:
    """One socket and the deadline of the call that holds it.

    ``http.client.HTTPResponse`` reads through :meth:`makefile`, whose raw
    reader sets the socket timeout to the time left before every ``recv``.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = 0.0

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        return left

    def sendall(self, data: bytes) -> None:
        # send() in a loop, not sendall(): an SSL socket's sendall gives each
        # chunk a fresh timeout, so a slow reader could stretch it
        view = memoryview(data)
        while view:
            self.sock.settimeout(self.remaining())
            view = view[self.sock.send(view) :]

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def dropped(self) -> bool:
        """An idle connection that is readable was closed (or spoke out of turn)."""
        try:
            if hasattr(select, "poll"):  # select() fails on descriptors above FD_SETSIZE
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)  # pragma: no cover - Windows
        except (OSError, ValueError):  # pragma: no cover - a socket closed under us
            return True
        return bool(readable)  # pragma: no cover - Windows

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:  # pragma: no cover - closing a dead socket
            pass

    def forget(self) -> None:
        """Drop a connection inherited from the parent process (see the module docs)."""
        _lifecycle.forget_socket(self.sock)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, connection: _Connection) -> None:
        super().__init__()
        self._connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._connection.sock.settimeout(self._connection.remaining())
        return self._connection.sock.recv_into(buffer)


class HTTPClient:
    """Requests to one URL, with a pool of keep-alive connections.

    - ``url``: ``http://`` or ``https://``; a :class:`Secret` or a string
      (held as a Secret: ``repr`` and logs show it masked).
    - ``ssl_verify``: verify the server's certificate and host name (default).
    - ``ssl_ca_bundle``: a PEM file (or directory) of CA certificates to trust
      instead of the system's.
    - ``proxy``: ``http://[user:pass@]host:port``; ``None`` reads the
      environment, ``""`` means no proxy whatever the environment says.
    - ``max_response_bytes``: the most of a body ever read.
    - ``user_agent``: the ``User-Agent`` header (``kstalerts/<version>``).
    - ``pool_size``: idle connections kept for reuse (at most
      ``MAX_IDLE_CONNECTIONS``).

    Name resolution (``getaddrinfo``) is the one step the deadline cannot
    interrupt: the standard library offers no timeout for it.
    """

    def __init__(
        self,
        url: Union[str, Secret],
        *,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        proxy: Optional[str] = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        user_agent: Optional[str] = None,
        pool_size: int = MAX_IDLE_CONNECTIONS,
    ) -> None:
        from ._version import __version__

        self.url = url if isinstance(url, Secret) else Secret(url)
        self._endpoint = _parse(self.url.reveal().strip(), "url", ("http", "https"))
        self._proxy = _choose_proxy(self._endpoint, proxy)
        self._proxy_url = _proxy_url(self._endpoint, proxy)
        self._max_bytes = max(0, min(int(max_response_bytes), MAX_RESPONSE_BYTES))
        self._pool_size = max(0, min(int(pool_size), MAX_IDLE_CONNECTIONS))
        self.user_agent = user_agent or f"kstalerts/{__version__}"
        self._ssl: Optional[ssl.SSLContext] = None
        if self._endpoint.scheme == "https":
            self._ssl = _ssl_context(ssl_verify, ssl_ca_bundle)
            if not ssl_verify:
                _log.warning("TLS certificate verification is OFF for %s", self.url)
        self._idle: List[_Connection] = []
        self._lock = threading.RLock()
        self._pid = os.getpid()
        _lifecycle.on_fork(self, HTTPClient._after_fork)

    @property
    def via_proxy(self) -> bool:
        """Whether requests go through a proxy."""
        return self._proxy is not None

    def __repr__(self) -> str:
        return f"HTTPClient({str(self.url)!r})"

    # -- public calls -----------------------------------------------------
    def post(self, body: bytes, *, headers: Mapping[str, str] = _EMPTY, timeout: float) -> HTTPResponse:
        """POST ``body``; see :meth:`request`."""
        return self.request("POST", body, headers=headers, timeout=timeout)

    def request(
        self,
        method: str,
        body: Optional[bytes],
        *,
        headers: Mapping[str, str] = _EMPTY,
        timeout: float,
    ) -> HTTPResponse:
        """Send one request and read the response, all within ``timeout`` seconds.

        Raises :class:`AlertDeliveryError` for a network, TLS or protocol
        failure; any HTTP status is returned as a response.
        """
        import http.client

        if body is not None and len(body) > MAX_REQUEST_BYTES:
            raise AlertDeliveryError(
                f"the request body is {len(body)} bytes, more than the {MAX_REQUEST_BYTES}-byte limit"
            )
        payload = self._head(method, body, headers) + (body or b"")
        started = time.monotonic()
        deadline = started + timeout
        phase = ["connecting"]
        for attempt in range(2):  # a second go only when a reused connection turned out stale
            connection = self._checkout() if attempt == 0 else None
            reused = connection is not None
            try:
                if connection is None:
                    connection = self._connect(deadline, phase)
                connection.deadline = deadline
                response, reusable = self._exchange(connection, method, payload, phase)
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                if reused and _stale(exc, phase[0]) and time.monotonic() < deadline:
                    _log.debug("%s: idle connection was closed by the server; reconnecting", self.url)
                    phase[0] = "connecting"
                    continue
                raise _translate(exc, phase[0], timeout, self._endpoint.host, self._peer()) from exc
            except BaseException:
                if connection is not None:
                    connection.close()
                raise
            if reusable:
                self._checkin(connection)
            else:
                connection.close()
            _log.debug(
                "%s %s -> %d in %.3fs (%s connection)",
                method,
                self.url,
                response.status,
                time.monotonic() - started,
                "reused" if reused else "new",
            )
            return _scrubbed(response, self._request_secrets(headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def _peer(self) -> str:
        """``host:port`` of the hop a failure happened with (``proxy host:port`` via a proxy)."""
        hop = self._proxy or self._endpoint
        host = f"[{hop.host}]" if ":" in hop.host else hop.host
        return f"{'proxy ' if self._proxy is not None else ''}{host}:{hop.port}"

    def close(self) -> None:
        """Close the idle connections; the client stays usable."""
        if self._pid != os.getpid():
            self._after_fork()  # the parent's connections are not ours to close
            return
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __del__(self) -> None:
        # A client dropped without close() must not leave sockets to the GC
        # (nor ResourceWarnings); no method of it can be running now.
        # (Closing an inherited descriptor is harmless: it sends nothing.)
        for connection in getattr(self, "_idle", ()):
            connection.close()

    def _request_secrets(self, headers: Mapping[str, str]) -> Tuple[bytes, ...]:
        """What a request carried that a server's answer must not echo into
        a result or a log: the URL (whole, its path and token-like segments),
        the user info of the URL and the proxy, the Authorization and
        Proxy-Authorization values (and what a Basic one encodes), and every
        header value given by the caller but the harmless ones."""
        from urllib.parse import unquote, urlsplit

        found: List[str] = []
        for url in (self.url.reveal(), self._proxy_url or ""):
            if not url:
                continue
            found.append(url)
            try:
                parts = urlsplit(url.strip())
            except ValueError:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in ("", "/"):
                found.append(target)
            segments = [seg for seg in parts.path.split("/") if seg]
            tokens = [seg for seg in segments if len(seg) >= 6 and any(c.isdigit() for c in seg)]
            found.extend(tokens + segments[-1:])  # token-like segments, and the last one
            for value in (parts.username, parts.password):
                if value:
                    found.extend((value, unquote(value)))
        values = [e.authorization for e in (self._endpoint, self._proxy) if e is not None and e.authorization]
        values += [v for k, v in headers.items() if k.lower() not in _HARMLESS_HEADERS]
        for value in values:
            found.append(value)
            scheme, _, credential = value.partition(" ")
            if credential:
                found.append(credential.strip())
                if scheme.lower() == "basic":
                    try:
                        pair = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
                    except (ValueError, UnicodeDecodeError):
                        continue
                    found.extend((pair, pair.partition(":")[2]))
        return tuple(
            sorted({f.encode("utf-8", "replace") for f in found if len(f) >= 4}, key=len, reverse=True)
        )

    # -- the pool ---------------------------------------------------------
    def _after_fork(self) -> None:
        """In a forked child: a new lock, and the inherited connections forgotten."""
        self._lock = threading.RLock()
        idle, self._idle = self._idle, []
        self._pid = os.getpid()
        for connection in idle:
            connection.forget()

    def _checkout(self) -> Optional[_Connection]:
        if self._pid != os.getpid():  # a fork the at-fork hook did not see
            self._after_fork()
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if not connection.dropped():
                return connection
            connection.close()

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        connection.close()

    # -- one exchange -----------------------------------------------------
    def _head(self, method: str, body: Optional[bytes], headers: Mapping[str, str]) -> bytes:
        if not method or not set(method) <= _TOKEN_CHARS:
            raise AlertConfigurationError(f"method {method!r} is not a valid HTTP token", key="method")
        endpoint, proxy = self._endpoint, self._proxy
        if proxy is not None and endpoint.scheme == "http":
            target = f"http://{endpoint.authority}{endpoint.target}"
        else:
            target = endpoint.target
        fields: Dict[str, str] = {
            "Host": endpoint.authority,
            "User-Agent": self.user_agent,
            "Accept-Encoding": "identity",
        }
        if endpoint.authorization is not None:
            fields["Authorization"] = endpoint.authorization
        if proxy is not None and endpoint.scheme == "http" and proxy.authorization is not None:
            fields["Proxy-Authorization"] = proxy.authorization
        given = {name.lower(): name for name in fields}
        for name, value in headers.items():
            _check_header(name, value)
            if name.lower() in _OWN_HEADERS:
                continue
            fields.pop(given.get(name.lower(), ""), None)
            fields[name] = value
        if body is not None or method.upper() in ("POST", "PUT", "PATCH"):
            fields["Content-Length"] = str(len(body or b""))
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _connect(self, deadline: float, phase: List[str]) -> _Connection:
        hop = self._proxy or self._endpoint
        phase[0] = "connecting"
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        connection = _Connection(socket.create_connection((hop.host, hop.port), timeout=left))
        connection.deadline = deadline
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._proxy is not None and self._ssl is not None:
                phase[0] = "opening the proxy tunnel"
                self._tunnel(connection, self._proxy)
            if self._ssl is not None:
                phase[0] = "in the TLS handshake"
                connection.sock.settimeout(connection.remaining())  # bounds the whole handshake
                connection.sock = wrap_tls(self._ssl, connection.sock, self._endpoint.host)
        except BaseException:
            connection.close()
            raise
        return connection

    def _tunnel(self, connection: _Connection, proxy: _Endpoint) -> None:
        import http.client

        host = self._endpoint.host
        authority = f"[{host}]:{self._endpoint.port}" if ":" in host else f"{host}:{self._endpoint.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization is not None:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reply = http.client.HTTPResponse(connection, method="CONNECT")  # type: ignore[arg-type]
        try:
            reply.begin()
        finally:
            reply.close()
        if reply.status != 200:
            reason = _scrubbed(
                HTTPResponse(reply.status, {}, b"", reply.reason or ""), self._request_secrets({})
            ).reason
            raise AlertDeliveryError(
                f"the proxy refused the tunnel: {reply.status} {reason}".rstrip(),
                retryable=reply.status >= 500,
            )

    def _exchange(
        self, connection: _Connection, method: str, payload: bytes, phase: List[str]
    ) -> Tuple[HTTPResponse, bool]:
        import http.client

        phase[0] = "sending the request"
        connection.sendall(payload)
        phase[0] = "waiting for the response"
        reply = http.client.HTTPResponse(connection, method=method)  # type: ignore[arg-type]
        try:
            reply.begin()
            phase[0] = "reading the response body"
            body = reply.read(self._max_bytes) if self._max_bytes else b""
            complete = reply.isclosed() or (reply.length is None and len(body) < self._max_bytes)
            headers: Dict[str, str] = {}
            for name, value in reply.getheaders():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            response = HTTPResponse(reply.status, headers, body, reply.reason or "", not complete)
            return response, reply.isclosed() and not reply.will_close
        finally:
            reply.close()


_HARMLESS_HEADERS = frozenset(("content-type", "accept", "user-agent", "content-encoding", "accept-language"))


def _proxy_url(endpoint: _Endpoint, proxy: Optional[str]) -> Optional[str]:
    """The proxy URL as given (or from the environment), for scrubbing."""
    if proxy is None:
        return _env("HTTPS_PROXY" if endpoint.scheme == "https" else "HTTP_PROXY") or None
    return proxy or None


def _scrubbed(response: HTTPResponse, secrets: Tuple[bytes, ...]) -> HTTPResponse:
    """``response`` with every secret of its request masked in the body, the
    reason and the header values: a server that echoes what it was sent
    cannot put a token into a result or a log."""
    if not secrets:
        return response

    def clean(data: bytes) -> bytes:
        for secret in secrets:
            data = data.replace(secret, b"***")
        return data

    def clean_text(text: str) -> str:
        return clean(text.encode("latin-1", "replace")).decode("latin-1")

    return HTTPResponse(
        response.status,
        {k: clean_text(v) for k, v in response.headers.items()},
        clean(response.body),
        clean_text(response.reason),
        response.truncated,
    )


def check_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    """Return ``headers`` as a dict after checking each name and value.

    A name must be an HTTP token; a value may not hold a line break (header
    injection) and must be Latin-1. Raises :class:`AlertConfigurationError`
    with ``key="headers"``; the message names the header, never its value.
    """
    checked: Dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise AlertConfigurationError("header names and values must be strings", key="headers")
        _check_header(name, value)
        checked[name] = value
    return checked


def _check_header(name: str, value: str) -> None:
    if not name or not set(name) <= _TOKEN_CHARS:
        raise AlertConfigurationError(f"header name {name!r} is not a valid HTTP token", key="headers")
    if any(c in value for c in "\r\n\0"):
        raise AlertConfigurationError(f"header {name}: the value contains a line break", key="headers")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise AlertConfigurationError(
            f"header {name}: the value is not Latin-1 text", key="headers"
        ) from None


def _stale(exc: BaseException, phase: str) -> bool:
    """A reused connection the server had already closed: nothing of an answer came back."""
    import http.client

    if phase not in ("sending the request", "waiting for the response"):
        return False
    return isinstance(
        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    )


class _HostNameMismatchError(OSError):
    """A certificate for another host, on Python 3.6 (whose ``ssl.CertificateError``
    is a ``ValueError``; 3.7+ raises an ``OSError``)."""


def wrap_tls(context: "ssl.SSLContext", sock: socket.socket, host: str) -> socket.socket:
    """``context.wrap_socket(sock)``, which raises only ``OSError`` on every Python."""
    import ssl

    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.CertificateError as exc:
        if isinstance(exc, OSError):  # pragma: no cover - Python 3.7+
            raise
        raise _HostNameMismatchError(str(exc)) from exc  # pragma: no cover - Python 3.6


def tls_verify_failure(exc: BaseException) -> Optional[str]:
    """Why the peer's certificate was refused, or ``None`` when ``exc`` is something else.

    Python 3.7+ raises ``ssl.SSLCertVerificationError`` (also named
    ``CertificateError``); 3.6 raises ``CertificateError`` for a wrong host
    name and a plain ``SSLError`` with reason ``CERTIFICATE_VERIFY_FAILED``
    for the rest.
    """
    import ssl

    if isinstance(exc, (ssl.CertificateError, _HostNameMismatchError)):
        return str(getattr(exc, "verify_message", None) or exc)
    if isinstance(exc, ssl.SSLError) and exc.reason == "CERTIFICATE_VERIFY_FAILED":
        return "certificate verify failed"
    return None


def _translate(
    exc: BaseException, phase: str, timeout: float, host: str, peer: str = ""
) -> AlertDeliveryError:
    """The one place foreign errors become delivery errors; the text names the
    peer (``host:port``), never the URL's path or query.

    A TLS handshake answered by a plain-text server (``WRONG_VERSION_NUMBER``)
    is a misconfiguration: not retried, and the text says what to change.
    """
    import http.client
    import ssl

    def error(text: str, retryable: bool = True) -> AlertDeliveryError:
        return AlertDeliveryError(f"{peer}: {text}" if peer else text, retryable=retryable)

    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc.reason or exc):
        return error(
            "TLS error in the TLS handshake: WRONG_VERSION_NUMBER: the server does not speak TLS on this"
            " port (an https:// URL to a plain-HTTP port? use http:// or the TLS port)",
            retryable=False,
        )

    if isinstance(exc, (socket.timeout, TimeoutError)):
        return error(f"timed out after {timeout:g}s {_while(phase)}")
    refused = tls_verify_failure(exc)
    if refused is not None:
        # A wrong or unknown certificate will not fix itself in seconds: not retried.
        return error(f"TLS certificate verification failed: {refused}", retryable=False)
    if isinstance(exc, ssl.SSLError):
        return error(f"TLS error {_while(phase)}: {exc.reason or type(exc).__name__}")
    if isinstance(exc, ConnectionRefusedError):
        return error("connection refused")
    if isinstance(exc, http.client.RemoteDisconnected):
        return error("the server closed the connection without answering")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return error(f"connection reset by the server {_while(phase)}")
    if isinstance(exc, socket.gaierror):
        return error(f"cannot resolve the host name {host!r}")
    if isinstance(exc, http.client.LineTooLong):
        return error("protocol error: a line of the response is too long")
    if isinstance(exc, http.client.BadStatusLine):
        return error("protocol error: the response does not start with an HTTP status line")
    if isinstance(exc, http.client.IncompleteRead):
        return error("the response ended before its announced length")
    if isinstance(exc, http.client.HTTPException):
        if "headers" in str(exc):
            return error("protocol error: the response has too many header lines")
        return error(f"protocol error: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return error(f"network error {_while(phase)}: {exc.strerror or type(exc).__name__}")
    return error(f"unexpected error {_while(phase)}: {type(exc).__name__}")  # pragma: no cover


def _while(phase: str) -> str:
    return phase if phase.startswith("in ") else f"while {phase}"
