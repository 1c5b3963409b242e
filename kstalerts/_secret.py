"""Secrets that cannot leak: a wrapper whose repr is masked, and URL masking.

A webhook URL, password or API key is held in a :class:`Secret`. Its
``repr`` and ``str`` show a mask, never the value; code that must use the
value calls :meth:`Secret.reveal` at the one place it goes on the wire.

>>> s = Secret("https://hooks.slack.com/services/T000/B000/XXXX")
>>> str(s)
'https://hooks.slack.com/***'
>>> s.reveal().endswith("XXXX")
True
"""

from ._typing import Any, Iterable, Optional

__all__ = ()


def mask_url(url: str) -> str:
    """A URL as it may be shown: ``scheme://host[:port]``, then ``/***`` when
    anything else (user info, path, query, fragment) was there.

    The path goes whole: a token may sit in any segment
    (``https://api.telegram.org/bot123:TOKEN/sendMessage``).

    >>> mask_url("https://user:pw@example.com:8443/bot1:TOKEN/send?k=v")
    'https://example.com:8443/***'
    >>> mask_url("http://127.0.0.1:9093")
    'http://127.0.0.1:9093'
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.isalnum():
        return "***"
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    hidden = len(authority) < len(rest.rstrip("/")) or "@" in authority
    hostport = authority.rpartition("@")[2]
    if any(c.isspace() or c in "\\\"'<>" for c in hostport) or len(hostport) > 260:
        return "***"
    return f"{scheme}://{hostport}" + ("/***" if hidden else "")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in ``secrets`` (4 characters or more)
    replaced by ``***``, longest first (a token inside a URL goes too)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def mask_text(value: str) -> str:
    """A fixed mask for a password or key: its length is not shown either."""
    return "***" if value else ""


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (an exception's message) with every URL masked and every known secret hidden."""
    import re

    url = r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+"
    return re.sub(url, lambda m: mask_url(m.group(0)), scrub(text, secrets))


class Secret:
    """A secret string; only :meth:`reveal` gives the value back."""

    __slots__ = ("_mask", "_value")

    def __init__(self, value: str, *, mask: Optional[str] = None) -> None:
        self._value = value
        if mask is None:
            mask = mask_url(value) if "://" in value else mask_text(value)
        self._mask = mask

    def reveal(self) -> str:
        """The secret itself: use it only where it goes on the wire."""
        return self._value

    def __str__(self) -> str:
        return self._mask

    def __repr__(self) -> str:
        return f"Secret({self._mask!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")


def resolve_credential(resolver: Any, name: str) -> Any:
    """``resolver.resolve(name)``, taking a kstlib-style record's ``value``.

    A resolver passed in may answer with the secret itself, or (as kstlib's
    ``CredentialResolver`` does) with a record whose ``value`` is the secret.

    >>> class Record:
    ...     value = "s3cret"
    >>> class KstlibStyle:
    ...     def resolve(self, name):
    ...         return Record()
    >>> resolve_credential(KstlibStyle(), "t")
    's3cret'
    """
    value = resolver.resolve(name)
    if not isinstance(value, (str, bytes)) and hasattr(value, "value"):
        return value.value
    return value
