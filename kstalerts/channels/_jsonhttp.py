"""Plumbing shared by the channels that POST JSON: Alertmanager, PagerDuty, Teams, Discord.

Everything here is a pure helper: encoding a payload
under the request-size cap, reading a service's error text without echoing a
secret and turning an HTTP status into an :class:`AlertDeliveryError`
(config options are read in :mod:`._options`). No sockets are opened here: bytes
move in :mod:`kstalerts.net.http`, which is imported on first delivery only.
"""

import json
import math
import time

from .._lazy import TYPE_CHECKING
from .._secret import Secret
from .._text import one_line
from .._typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import MAX_REQUEST_BYTES
from ..retry import parse_retry_after
from ._options import TRANSPORT, read
from .base import AlertChannel

if TYPE_CHECKING:
    from ..models import AlertMessage, AlertResult
    from ..net.http import HTTPClient, HTTPResponse

__all__ = ()

_SERVICE_TEXT_CHARS = 300


def json_encoder(
    *, ensure_ascii: bool = True, separators: Tuple[str, str] = (",", ":")
) -> Callable[[Any], str]:
    """``json.dumps`` with these options, as one function built once for every send.

    ``JSONEncoder.encode`` builds a new C encoder (and a closure) on each call:
    a third of the time of a small payload. This builds json's C encoder
    once, as ``encode`` would, without the check for circular references
    (a payload is a fresh tree of dicts and lists; a cycle still fails, with
    a ``RecursionError``) and with ``JSONEncoder``'s ``default`` (a value JSON
    cannot hold is a ``TypeError``, as with ``json.dumps``). Without the C
    accelerator (another Python), ``JSONEncoder(...).encode`` itself.

    >>> json_encoder()({"text": "disk full", "ts": 1, "mrkdwn": False})
    '{"text":"disk full","ts":1,"mrkdwn":false}'
    """
    encoder = json.encoder
    plain = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators)
    make = getattr(encoder, "c_make_encoder", None)  # not in typeshed; None without _json
    if make is None:  # pragma: no cover - CPython always has _json
        return plain.encode
    strings = encoder.encode_basestring_ascii if ensure_ascii else encoder.encode_basestring
    compiled = make(
        None, plain.default, strings, None, separators[1], separators[0], False, False, True
    )
    join = "".join

    def encode(payload: Any) -> str:
        return join(compiled(payload, 0))

    return encode


_compact = json_encoder()


#: ``text`` as a JSON string, quoted, as ``json.dumps(text, ensure_ascii=False)``
#: writes it; ``[1:-1]`` is what stands between the quotes, which a hole of
#: :func:`json_shape` inside a longer string takes.
json_string: Callable[[str], str] = json.encoder.encode_basestring


def json_shape(
    text: str, holes: Tuple[str, ...], check: str, check_holes: Tuple[str, ...]
) -> Optional[Callable[..., str]]:
    """A payload's JSON text with holes for what varies from alert to alert, as a
    function that fills them (design.md, "Slack fills a plain alert into its
    payload's shape").

    ``text`` and ``check`` are the payload's JSON built with two sets of
    markers, ``holes`` and ``check_holes`` (as they stand in the text). The
    text around the first set is kept only if filling it with the second
    gives ``check``; else ``None`` (a marker also in a constant). A hole the
    payload leaves out, or an empty one, is no hole. No template is parsed per fill.

    >>> a = '{"text": "[WARNING] hole-1", "ts": 9000000001}'
    >>> b = '{"text": "[WARNING] hole-2", "ts": 9000000002}'
    >>> fill = json_shape(a, ("hole-1", "9000000001"), b, ("hole-2", "9000000002"))
    >>> fill("disk full", "1700000000")
    '{"text": "[WARNING] disk full", "ts": 1700000000}'
    """
    pieces: List[str] = []
    places: List[Tuple[int, int]] = []  # (place in pieces, which value)
    start = 0
    while True:
        found = [(text.find(hole, start), index) for index, hole in enumerate(holes) if hole]
        at, index = min(((at, index) for at, index in found if at >= 0), default=(-1, -1))
        if at < 0:
            break
        places.append((len(pieces) + 1, index))
        pieces += (text[start:at], "")
        start = at + len(holes[index])
    pieces.append(text[start:])

    def fill(*values: str) -> str:
        parts = pieces[:]
        for at, index in places:
            parts[at] = values[index]
        return "".join(parts)

    return fill if fill(*check_holes) == check else None


def encode_json(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON; over ``MAX_REQUEST_BYTES`` is a permanent error."""
    data = _compact(payload).encode("utf-8")
    if len(data) > MAX_REQUEST_BYTES:
        raise AlertDeliveryError(
            f"payload is {len(data)} bytes, more than the {MAX_REQUEST_BYTES}-byte request limit"
        )
    return data


def add_set(payload: Dict[str, Any], **fields: Any) -> Dict[str, Any]:
    """``payload`` with each of ``fields`` that is set (not empty, not ``None``)
    added, in order: a service is not sent the options a user left out."""
    for name, value in fields.items():
        if value:
            payload[name] = value
    return payload


def iso_time(timestamp: float) -> str:
    """RFC 3339 UTC time with milliseconds: ``2026-11-27T09:55:08.485Z``.

    Truncated, never rounded up: an ``endsAt`` of "now" must not lie in the future.
    """
    millis = math.floor(timestamp * 1000)
    seconds, millis = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def secret_parts(secret: Secret) -> Tuple[str, ...]:
    """What of a secret URL to hide in a service's answer: the URL and its token."""
    value = secret.reveal()
    last = value.rstrip("/").rsplit("/", 1)[-1]
    return (value, last) if len(last) >= 6 else (value,)


def service_text(
    text: Union[str, bytes], *, hide: Iterable[str] = (), limit: int = _SERVICE_TEXT_CHARS
) -> str:
    """A service's error text made safe to show: one line, capped, secrets masked (:func:`.one_line`)."""
    return one_line(text, secrets=hide, limit=limit)


def retry_after_header(response: "HTTPResponse") -> Optional[float]:
    """Seconds the ``Retry-After`` header asks for, if usable."""
    return parse_retry_after(response.headers.get("retry-after"))


def status_error(
    service: str,
    response: "HTTPResponse",
    detail: str = "",
    *,
    retry_after: Optional[float] = None,
) -> AlertDeliveryError:
    """The delivery error for a response that is not a success.

    429, 408 and 5xx may succeed later (``retryable``); a redirect is not
    followed; any other 4xx is permanent.
    """
    status = response.status
    reason = f"HTTP {status} {response.reason}".rstrip()
    suffix = f": {detail}" if detail else ""
    if status == 429:
        if retry_after is None:
            retry_after = retry_after_header(response)
        wait = f", retry after {retry_after:g}s" if retry_after is not None else ""
        return AlertDeliveryError(
            f"{service} rate limited the request ({reason}{wait}){suffix}",
            retryable=True,
            retry_after=retry_after,
            status=status,
        )
    if status >= 500 or status == 408:
        return AlertDeliveryError(
            f"{service} server error ({reason}){suffix}",
            retryable=True,
            retry_after=retry_after if retry_after is not None else retry_after_header(response),
            status=status,
        )
    if 300 <= status < 400:
        return AlertDeliveryError(
            f"{service} answered with a redirect ({reason}), not followed", status=status
        )
    return AlertDeliveryError(f"{service} rejected the request ({reason}){suffix}", status=status)


class HTTPChannel(AlertChannel):
    """A channel whose requests go through :class:`kstalerts.net.http.HTTPClient`.

    It takes the transport options (``ssl_verify``, ``ssl_ca_bundle``,
    ``proxy``: ``_options.TRANSPORT``, checked as described there) once for every HTTP channel;
    :meth:`_http_client` builds a client with them, so a bad proxy or CA
    bundle fails when the channel is built. A subclass's ``options`` get
    the transport options it does not list itself, so its config accepts
    them too.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        own = cls.__dict__.get("options")
        if own is not None:
            listed = {o.name for o in own}
            cls.options = (*own, *(o for o in TRANSPORT if o.name not in listed))
        super().__init_subclass__(**kwargs)

    def __init__(
        self,
        *,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        proxy: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        given = {"ssl_verify": ssl_verify, "ssl_ca_bundle": ssl_ca_bundle, "proxy": proxy}
        # keyword checks from the description: ssl_verify="no" is refused, not taken as true
        self._transport: Dict[str, Any] = {o.name: read(o, given[o.name], self.kind) for o in TRANSPORT}

    def _http_client(self, url: Union[str, Secret], *, key: str = "url") -> "HTTPClient":
        """A client for ``url``; an error about the URL names ``key`` (the channel's setting)."""
        try:
            return make_client(url, self._transport)
        except AlertConfigurationError as exc:
            if exc.key != "url" or key == "url":
                raise
            raise AlertConfigurationError(exc.reason, key=key) from None


def send_resolving(channel: Any, alert: "AlertMessage") -> "AlertResult":
    """``channel.send(alert)`` by a copy of ``channel`` with ``resolving`` set (PagerDuty, Alertmanager)."""
    import copy

    twin = copy.copy(channel)
    twin.resolving = True
    result: AlertResult = twin.send(alert)
    return result


def make_client(url: Union[str, Secret], transport: Mapping[str, Any]) -> "HTTPClient":
    """The HTTP client of a channel; a bad proxy or CA bundle fails here, at build time.

    ``kstalerts.net.http`` loads here, when a channel is built, not at
    ``import kstalerts``; ``http.client`` loads on the first request.
    """
    from ..net.http import HTTPClient

    return HTTPClient(url, **transport)
