"""A minimal HTTPS POST for ResendTransport: to be replaced by kstalerts.http.

Stopgap until :mod:`kstalerts.http` (the shared HTTP transport) is merged;
it follows that module's interface (``HTTPClient(url, ...).post(body, *,
headers, timeout) -> HTTPResponse``) so the swap is one import. One
connection per call, a verified TLS context, no redirects, the body read
capped at ``MAX_RESPONSE_BYTES``, and socket/TLS/HTTP errors translated into
a retryable :class:`AlertDeliveryError` whose text carries no URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional
from urllib.parse import urlsplit

from ..exceptions import AlertDeliveryError
from ..limits import MAX_RESPONSE_BYTES

__all__ = ("HTTPClient", "HTTPResponse")


@dataclass(frozen=True)
class HTTPResponse:
    """One answer: status, lower-cased headers, the (capped) body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str = ""


class HTTPClient:
    """POST to one URL (stopgap; proxies are not supported here)."""

    def __init__(
        self,
        url: str,
        *,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        proxy: Optional[str] = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._url = urlsplit(url)
        self._ssl_verify = ssl_verify
        self._ssl_ca_bundle = ssl_ca_bundle
        self._max = max_response_bytes

    def post(self, body: bytes, *, headers: Mapping[str, str], timeout: float) -> HTTPResponse:
        """Send ``body``; any HTTP status is returned, never followed."""
        import http.client
        import socket
        import ssl

        deadline = time.monotonic() + timeout
        host = self._url.hostname or ""
        path = self._url.path or "/"
        conn: http.client.HTTPConnection
        if self._url.scheme == "https":
            context = ssl.create_default_context(cafile=self._ssl_ca_bundle)
            if not self._ssl_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, self._url.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, self._url.port, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers=dict(headers))
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            if conn.sock is not None:
                conn.sock.settimeout(left)
            response = conn.getresponse()
            data = response.read(self._max)
            names: Dict[str, str] = {k.lower(): v for k, v in response.getheaders()}
            return HTTPResponse(response.status, names, data, response.reason)
        except socket.timeout:
            raise AlertDeliveryError(f"no answer within {timeout:g}s", retryable=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise AlertDeliveryError(f"HTTP request failed: {type(exc).__name__}", retryable=True) from None
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing is pooled here."""
