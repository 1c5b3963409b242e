"""One HTTP request over ``http.client``: TLS, proxies, keep-alive, a deadline.

An :class:`HTTPClient` talks to one URL. It sends a request and returns an
:class:`HTTPResponse` for any status, redirects included (they are never
followed): what a status means is the channel's business. Rules:

- One deadline per call. Connecting, the proxy tunnel, the TLS handshake,
  sending, and reading the status line, headers and body all finish before
  ``timeout`` runs out: every read sets the socket timeout to the time left,
  so a peer that trickles a byte a second cannot stretch a call.
- Keep-alive. A finished connection goes back to a small pool
  (:class:`kstalerts.net.wire.IdlePool`: fork-safe, never shared by two calls)
  and the next call reuses it.
- Resending. Where a request stands is a :class:`kstalerts.net.attempt.Stage`;
  whether it may be sent again on a new connection is looked up in the table
  SMTP shares, one row per stage (:data:`kstalerts.net.attempt.STAGES`): never once a byte of the
  answer may have been read, and only for a reused connection found closed
  by the server (:func:`kstalerts.net.attempt.pooled_attempts` runs that loop).
- TLS follows :func:`kstalerts.net.wire.tls_context` (TLS >= 1.2, verified
  unless ``ssl_verify=False`` is passed explicitly, ``SSL_CERT_FILE``
  honoured, a CA file or directory).
- Proxies come from ``proxy=`` or ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
  (lower-case forms win); https goes through a ``CONNECT`` tunnel, http uses
  the absolute-form request target.
- Errors from ``socket``, ``ssl`` and ``http.client`` are translated here,
  once, into :class:`AlertDeliveryError` whose text names no URL.

``http.client`` and ``ssl`` are imported on first use.
"""

import base64
import io
import os
import re
import socket
import time

from .. import _lifecycle
from .._lazy import TYPE_CHECKING
from .._log import logger
from .._secret import Secret
from .._typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import MAX_IDLE_CONNECTIONS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_RESPONSE_DEPTH
from . import attempt
from .attempt import Attempt, Progress, Rules, Stage, pooled_attempts
from .wire import Deadline, IdlePool, Pooled, connect_tcp, is_dropped, tls_context, wrap_tls

if TYPE_CHECKING:
    import ssl
    from typing import NoReturn

__all__ = ()

_log = logger("kstalerts.http")

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


# Sources, compiled by re's cache on the first reply that is JSON (not at import).
_JSON_STRING = rb'(?s)"(?:[^"\\]|\\.)*"'
_JSON_BRACKET = rb"[][{}]"
_JSON_STARTS = frozenset(bytes([c]) for c in b'{["-0123456789tfn')


def loads_bounded(body: bytes, max_depth: int = MAX_RESPONSE_DEPTH) -> Any:
    """``json.loads(body)`` for bytes a peer sent, or ``None`` when they are
    not UTF-8 JSON or nest deeper than ``max_depth``: the depth is counted
    (strings skipped) before the parser, which recurses, sees the text."""
    if body.lstrip()[:1] not in _JSON_STARTS:  # "ok", HTML, empty: not JSON, no parser run
        return None
    import json

    depth = 0
    for match in re.finditer(_JSON_BRACKET, re.sub(_JSON_STRING, b'""', body)):
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
    """Check (:func:`kstalerts.net.url.check_url`) and split ``url``; errors name ``key``, never the value."""
    from urllib.parse import unquote, urlsplit

    from .url import URLRule, check_url

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


class _Connection(Pooled):
    """One socket and the deadline of the call that holds it.

    ``http.client.HTTPResponse`` reads through :meth:`makefile`, whose raw
    reader sets the socket timeout to the time left before every ``recv``.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.progress = Progress(attempt.CONNECTING)

    def sendall(self, data: bytes) -> None:
        self.deadline.send_all(self.sock, data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def dropped(self) -> bool:
        """An idle connection that is readable was closed (or spoke out of turn)."""
        return is_dropped(self.sock)

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
        connection = self._connection
        connection.deadline.arm(connection.sock)
        received = connection.sock.recv_into(buffer)
        if received and connection.progress.stage is attempt.WAITING:
            connection.progress.stage = attempt.ANSWERING
        return received


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
        from .._version import __version__

        self.url = url if isinstance(url, Secret) else Secret(url)
        self._endpoint = _parse(self.url.reveal().strip(), "url", ("http", "https"))
        self._proxy = _choose_proxy(self._endpoint, proxy)
        self._proxy_url = _proxy_url(self._endpoint, proxy)
        self._max_bytes = max(0, min(int(max_response_bytes), MAX_RESPONSE_BYTES))
        self.user_agent = user_agent or f"kstalerts/{__version__}"
        self._ssl: Optional[ssl.SSLContext] = None
        if self._endpoint.scheme == "https":
            self._ssl = tls_context(ssl_verify, ssl_ca_bundle)
            if not ssl_verify:
                _log.warning("TLS certificate verification is OFF for %s", self.url)
        self._pool: IdlePool[_Connection] = IdlePool(max(0, min(int(pool_size), MAX_IDLE_CONNECTIONS)))
        self._rules: Optional[Rules] = None  # see _shared_rules
        self._prepared_cache: Dict[Tuple[object, ...], _Prepared] = {}

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
        if body is not None and len(body) > MAX_REQUEST_BYTES:
            raise AlertDeliveryError(
                f"the request body is {len(body)} bytes, more than the {MAX_REQUEST_BYTES}-byte limit"
            )
        head, sized, secrets, probes = self._prepared(method, body is not None, headers)
        end = b"Content-Length: %d\r\n\r\n" % len(body or b"") if sized else b""
        payload = head + end + (body or b"")
        started = time.monotonic()
        deadline = Deadline(started + timeout)

        def fail(exc: BaseException, stage: Stage) -> "NoReturn":
            raise _translate(exc, stage, timeout, self._endpoint.host, self._peer()) from exc

        # the client's shared rules with this call's own two: a record built by keyword binds
        # its eight names in Python, which costs twice a _replace (19k instructions against 10k)
        shared = self._rules or self._shared_rules()
        rules = shared._replace(fail=fail, deadline=deadline.at)
        go: Attempt[_Connection]
        for go in pooled_attempts(self._pool.take(), rules):
            with go:
                if go.connection is None:
                    go.connection = self._connect(deadline, go.progress)
                connection = go.connection
                connection.deadline = deadline
                connection.progress = go.progress
                response, reusable = self._exchange(connection, method, payload, go.progress)
        if not (reusable and self._pool.put(connection)):
            connection.close()
        _log.debug(
            "%s %s -> %d in %.3fs (%s connection)",
            method,
            self.url,
            response.status,
            time.monotonic() - started,
            "reused" if go.reused else "new",
        )
        return _scrubbed(response, secrets, probes)

    def _shared_rules(self) -> Rules:
        """What the :class:`Rules` of every request share, built on the first one (which
        imports ``http.client``, whose errors they name); each request sets its own
        ``fail`` and ``deadline``."""
        import http.client

        self._rules = Rules(
            first=attempt.CONNECTING,
            errors=(OSError, http.client.HTTPException),
            is_stale=_hung_up,
            fail=_fail_unset,
            deadline=0.0,
            log=_log,
            peer=self.url,
            what="connection",
        )
        return self._rules

    def _peer(self) -> str:
        """``host:port`` of the hop a failure happened with (``proxy host:port`` via a proxy)."""
        hop = self._proxy or self._endpoint
        host = f"[{hop.host}]" if ":" in hop.host else hop.host
        return f"{'proxy ' if self._proxy is not None else ''}{host}:{hop.port}"

    def close(self) -> None:
        """Close the idle connections; the client stays usable."""
        for connection in self._pool.drain():  # none in a forked child: the parent's
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

    def _prepared(
        self, method: str, has_body: bool, headers: Mapping[str, str]
    ) -> "_Prepared":
        """The request head's lines but its ``Content-Length`` and the blank
        line, whether it takes a ``Content-Length``, the secrets to scrub
        from the answer and those to look for (:func:`_probes`).

        A channel sends the same method and headers every time, so both are
        built once per distinct set and kept (a few sets at most; the cache
        is emptied when it fills): the warm path formats no header.
        """
        key = (method, has_body, self.user_agent, tuple(headers.items()))
        prepared = self._prepared_cache.get(key)
        if prepared is None:
            head = self._head(method, b"" if has_body else None, headers, length=False)
            secrets = self._request_secrets(headers)
            prepared = (head, not head.endswith(b"\r\n\r\n"), secrets, _probes(secrets))
            if len(self._prepared_cache) >= _PREPARED_MAX:
                self._prepared_cache.clear()
            self._prepared_cache[key] = prepared
        return prepared

    # -- one exchange -----------------------------------------------------
    def _head(
        self, method: str, body: Optional[bytes], headers: Mapping[str, str], *, length: bool = True
    ) -> bytes:
        """The request head; ``length=False`` stops before the ``Content-Length``
        line (and the blank line) when there is one to add."""
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
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
        if body is not None or method.upper() in ("POST", "PUT", "PATCH"):
            if not length:
                return ("\r\n".join(lines) + "\r\n").encode("latin-1")
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _connect(self, deadline: Deadline, progress: Progress) -> _Connection:
        hop = self._proxy or self._endpoint
        progress.stage = attempt.CONNECTING
        left = deadline.left()
        if left <= 0:
            raise socket.timeout("timed out")
        connection = _Connection(connect_tcp(hop.host, hop.port, left), deadline)
        connection.progress = progress
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._proxy is not None and self._ssl is not None:
                progress.stage = attempt.TUNNELLING
                self._tunnel(connection, self._proxy)
            if self._ssl is not None:
                progress.stage = attempt.HANDSHAKE
                deadline.arm(connection.sock)  # bounds the whole handshake
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
        self, connection: _Connection, method: str, payload: bytes, progress: Progress
    ) -> Tuple[HTTPResponse, bool]:
        import http.client

        progress.stage = attempt.SENDING
        connection.sendall(payload)
        progress.stage = attempt.WAITING
        reply = http.client.HTTPResponse(connection, method=method)  # type: ignore[arg-type]
        try:
            reply.begin()
            progress.stage = attempt.READING
            # no more than the answer says it holds: before 3.10, read(n) first fills n zero bytes
            length = reply.length
            wanted = self._max_bytes if length is None or length > self._max_bytes else length
            body = reply.read(wanted) if self._max_bytes else b""  # read(0) too: it ends the answer
            complete = reply.isclosed() or (reply.length is None and len(body) < self._max_bytes)
            headers: Dict[str, str] = {}
            # raw_items, not getheaders(): the values as parsed, without a policy call per header
            # (http.client decodes the head as Latin-1, which leaves compat32 nothing to fix)
            for name, value in reply.msg.raw_items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            response = HTTPResponse(reply.status, headers, body, reply.reason or "", not complete)
            return response, reply.isclosed() and not reply.will_close
        finally:
            reply.close()


if TYPE_CHECKING:
    #: What :meth:`HTTPClient._prepared` keeps per set of headers.
    _Prepared = Tuple[bytes, bool, Tuple[bytes, ...], Tuple[Tuple[bytes, str], ...]]

_PREPARED_MAX = 16  # distinct (method, headers) sets one client keeps prepared
_HARMLESS_HEADERS = frozenset(("content-type", "accept", "user-agent", "content-encoding", "accept-language"))


def _proxy_url(endpoint: _Endpoint, proxy: Optional[str]) -> Optional[str]:
    """The proxy URL as given (or from the environment), for scrubbing."""
    if proxy is None:
        return _env("HTTPS_PROXY" if endpoint.scheme == "https" else "HTTP_PROXY") or None
    return proxy or None


def _probes(secrets: Tuple[bytes, ...]) -> Tuple[Tuple[bytes, str], ...]:
    """The secrets to look for in an answer: those that contain no other one (an answer
    that echoes a longer secret echoes the shorter one in it: the URL its token), each
    as bytes (the body) and as the Latin-1 text of the reason and header values."""
    return tuple((s, s.decode("latin-1")) for s in secrets if not any(o in s for o in secrets if o != s))


def _echoes(response: HTTPResponse, probes: Tuple[Tuple[bytes, str], ...]) -> bool:
    """Whether the body, the reason or a header value of ``response`` holds one of
    ``probes`` (loops, not any() over generators: this runs on every response).

    The reason and the header values are searched as one text, joined by line feeds:
    what is in one of them is in it, and a probe found only across two (one holding a
    line feed, as a Basic credential's password may) costs a scrub that masks nothing."""
    texts = "\n".join((response.reason, *response.headers.values()))  # as parsed: compared as text
    body = response.body
    for secret, text in probes:
        if secret in body or text in texts:
            return True
    return False


def _scrubbed(
    response: HTTPResponse,
    secrets: Tuple[bytes, ...],
    probes: Optional[Tuple[Tuple[bytes, str], ...]] = None,
) -> HTTPResponse:
    """``response`` with every secret of its request masked in the body, the
    reason and the header values: a server that echoes what it was sent
    cannot put a token into a result or a log. ``probes`` are
    ``_probes(secrets)``, which a client keeps per set of headers."""
    if not secrets or not _echoes(response, _probes(secrets) if probes is None else probes):
        return response  # nothing echoed (every answer but a hostile or chatty one)

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


def _fail_unset(exc: BaseException, stage: Stage) -> "NoReturn":  # pragma: no cover - never called
    """The ``fail`` of the shared rules, which every request replaces with its own."""
    raise AssertionError("a request's rules carry its own fail") from exc


def _hung_up(exc: BaseException) -> bool:
    """Whether ``exc`` says the server hung up before a byte of an answer
    (on a reused connection: it had closed it while idle)."""
    import http.client

    return isinstance(
        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    )


def _translate(
    exc: BaseException, stage: Stage, timeout: float, host: str, peer: str = ""
) -> AlertDeliveryError:
    """The one place foreign errors become delivery errors; the text names the
    peer (``host:port``), never the URL's path or query.

    Network faults are sorted by :func:`kstalerts.net.fault.classify` and worded
    here; a TLS handshake answered by a plain-text server is a
    misconfiguration: not retried, and the text says what to change.
    """
    import http.client

    from .fault import PERMANENT, Fault, classify

    def error(text: str, retryable: bool = True) -> AlertDeliveryError:
        return AlertDeliveryError(f"{peer}: {text}" if peer else text, retryable=retryable)

    if isinstance(exc, http.client.RemoteDisconnected):  # before classify: it is a reset
        return error("the server closed the connection without answering")
    if isinstance(exc, http.client.LineTooLong):
        return error("protocol error: a line of the response is too long")
    if isinstance(exc, http.client.BadStatusLine):
        return error("protocol error: the response does not start with an HTTP status line")
    if isinstance(exc, http.client.IncompleteRead):
        return error("the response ended before its announced length")
    if isinstance(exc, http.client.HTTPException):
        if type(exc) is http.client.HTTPException:  # raised bare only for over 100 header lines
            return error("protocol error: the response has too many header lines")
        return error(f"protocol error: {type(exc).__name__}")
    fault, detail = classify(exc)
    where = stage.where
    text = {
        Fault.NOT_TLS: "TLS error in the TLS handshake: WRONG_VERSION_NUMBER: the server does not speak TLS"
        " on this port (an https:// URL to a plain-HTTP port? use http:// or the TLS port)",
        Fault.CERTIFICATE: f"TLS certificate verification failed: {detail}",
        Fault.TIMEOUT: f"timed out after {timeout:g}s {where}",
        Fault.TLS: f"TLS error {where}: {detail}",
        Fault.REFUSED: "connection refused",
        Fault.RESET: f"connection reset by the server {where}",
        Fault.UNRESOLVED: f"cannot resolve the host name {host!r}",
        Fault.NETWORK: f"network error {where}: {detail}",
    }[fault]
    return error(text, retryable=fault not in PERMANENT)
