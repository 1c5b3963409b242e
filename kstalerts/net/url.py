"""The one URL checker: every HTTP channel, the HTTP client and the Resend
transport judge a URL here, with the same words.

A :class:`URLRule` says what a setting accepts: the schemes, whether user
info (``user:pass@``) or a query may appear, whether plain ``http://`` is
only for a loopback address, and, for a service with official endpoints,
its hosts and path shape. :func:`check_url` applies it and returns the URL
without surrounding white space. Without ``allow_custom``, a URL of a
service with official hosts must be https on one of them with the service's
path; the port is free (``:8443`` passes everywhere alike). A rule with a
path but no hosts (a self-hosted server's webhook, ``/hooks/...``) checks
the path on any host.

Rules: an error names the setting (``key``) and never the URL, which may
hold a secret token. This module imports nothing of the package but the
exceptions.
"""

import urllib.parse

from .._text import compiled
from .._typing import NamedTuple, Optional, Tuple
from ..exceptions import AlertConfigurationError

__all__ = ()

#: Hosts a plain ``http://`` URL may name when a rule keeps http to loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class URLRule(NamedTuple):
    """What one URL setting accepts (see :func:`check_url`)."""

    service: str = ""
    hosts: Tuple[str, ...] = ()  # exact names, or suffixes starting with a dot
    path: Optional[str] = None  # a regular expression's source, matched at the path's start
    schemes: Tuple[str, ...] = ("http", "https")
    userinfo: bool = True
    query: bool = True
    http_only_to_loopback: bool = False


#: Any http(s) URL with a host.
ANY_HTTP = URLRule()


def _visible_ascii(text: str) -> bool:
    """Whether every character of ``text`` is one of ``!`` to ``~`` (33 to 126), found
    by the string's own C methods (a loop over the characters cost 30 us a channel)."""
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return False
    return text.isprintable() and " " not in text  # in ASCII, only 0-31 and 127 are not printable


def check_url(url: object, *, key: str, rule: URLRule = ANY_HTTP, allow_custom: bool = False) -> str:
    """``url`` (text, or a ``Secret`` holding it) stripped, if ``rule`` accepts it; else
    :class:`AlertConfigurationError` on ``key``."""
    reveal = getattr(url, "reveal", None)  # a Secret, not imported: this module stays at the bottom
    if callable(reveal):
        url = reveal()
    if not isinstance(url, str) or not url.strip():
        raise AlertConfigurationError("must be a URL", key=key)
    url = url.strip()
    if not _visible_ascii(url):
        raise AlertConfigurationError("must be a URL without spaces or non-ASCII characters", key=key)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here, not at the first delivery)
    except ValueError:
        raise AlertConfigurationError("is not a valid URL", key=key) from None
    scheme = parts.scheme.lower()
    if scheme not in rule.schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in rule.schemes)
        raise AlertConfigurationError(f"must be an {wanted} URL with a host", key=key)
    if not rule.userinfo and (parts.username is not None or parts.password is not None):
        raise AlertConfigurationError("must not carry user info (user:password@)", key=key)
    if not rule.query and (parts.query or parts.fragment):
        raise AlertConfigurationError("must not carry a query or a fragment", key=key)
    if rule.http_only_to_loopback and scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise AlertConfigurationError("must be an https:// URL (http:// only to a loopback address)", key=key)
    if rule.hosts and not allow_custom and not _official(parts, rule):
        expected = ", ".join(("*" + h) if h.startswith(".") else h for h in rule.hosts)
        raise AlertConfigurationError(
            f"must be a {rule.service} URL: https on {expected} with the service's path"
            " (for a compatible server, a relay or a test server: allow_custom_url: true in a config"
            " file, allow_custom_url=True in code)",
            key=key,
        )
    if (
        rule.path is not None
        and not rule.hosts
        and not allow_custom
        and compiled(rule.path).match(parts.path) is None
    ):
        raise AlertConfigurationError(
            f"must be a {rule.service} URL with the service's path"
            " (pass allow_custom_url=True for a relay or a test server)",
            key=key,
        )
    return url


def _official(parts: "urllib.parse.SplitResult", rule: URLRule) -> bool:
    host = (parts.hostname or "").lower()
    return (
        parts.scheme.lower() == "https"
        and any(host == h or (h.startswith(".") and host.endswith(h)) for h in rule.hosts)
        and parts.username is None
        and (rule.path is None or compiled(rule.path).match(parts.path) is not None)
    )
