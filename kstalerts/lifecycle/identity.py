"""An alert's identity (its fingerprint), and the fields matchers see.

Rules: the identity is the ``dedup_key`` when the alert has one, else its
title and labels; never its level or body, so a WARNING that becomes
CRITICAL is the same problem and a body with a changing number does not
break it. The fingerprint is a short hash of that, safe as a JSON key
whatever the title holds. Matchers see the alert's labels plus
``alertname`` (the title), ``level`` (its name in lower case, ``critical``)
and ``key`` (the dedup key, or empty); a label of one of those names is
shadowed by the alert's own field.
"""

import hashlib
import json

from .._lazy import TYPE_CHECKING
from .._typing import Dict, Mapping, Optional

if TYPE_CHECKING:
    from ..models import AlertMessage

__all__ = ()


def fingerprint_of(key: Optional[str], title: str, labels: Mapping[str, str]) -> str:
    """The fingerprint of an alert with this key, or else this title and these labels."""
    if key is not None:
        parts: object = ["key", key]
    else:
        parts = ["title", title, sorted(labels.items())]
    canonical = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def fingerprint(alert: "AlertMessage") -> str:
    """``alert``'s fingerprint: its dedup key, else its title and labels."""
    return fingerprint_of(alert.dedup_key, alert.title, alert.labels)


def fields_of(key: Optional[str], title: str, level: str, labels: Mapping[str, str]) -> Dict[str, str]:
    """What a matcher is tried on: the labels, then ``alertname``, ``level`` and ``key``."""
    seen = dict(labels)
    seen.update(alertname=title, level=level.lower(), key=key or "")
    return seen


def fields(alert: "AlertMessage") -> Dict[str, str]:
    """:func:`fields_of` for ``alert``."""
    return fields_of(alert.dedup_key, alert.title, alert.level.name, alert.labels)
