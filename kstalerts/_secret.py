"""Secrets that cannot leak: a wrapper whose repr is masked, and URL masking.

A webhook URL, password or API key is held in a :class:`Secret`. Its
``repr`` and ``str`` show a mask, never the value; code that must use the
value calls :meth:`Secret.reveal` at the one place it goes on the wire.

>>> s = Secret("https://hooks.slack.com/services/T000/B000/XXXX")
>>> str(s)
'https://hooks.slack.com/services/T***/B***/***'
>>> s.reveal().endswith("XXXX")
True
"""

from typing import Optional

__all__ = ("Secret", "mask_url", "mask_text")


def mask_url(url: str) -> str:
    """Keep a URL's scheme, host and first path segment; mask the rest.

    Middle segments keep their first character, the last is masked whole;
    the query and fragment are dropped. A port and user info are dropped too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    authority, _, path = rest.partition("/")
    host = authority.rpartition("@")[2].split(":")[0] if authority else ""
    path = path.split("?")[0].split("#")[0]
    segments = [s for s in path.split("/") if s]
    masked = []
    for index, segment in enumerate(segments):
        if index == 0 and len(segments) > 1:
            masked.append(segment)
        elif index == len(segments) - 1:
            masked.append("***")
        else:
            masked.append(segment[0] + "***")
    tail = "/" + "/".join(masked) if masked else ""
    return f"{scheme}://{host}{tail}"


def mask_text(value: str) -> str:
    """A fixed mask for a password or key: its length is not shown either."""
    return "***" if value else ""


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
