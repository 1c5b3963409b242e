"""Silences: "hold the alerts these matchers select until then", shared through the state folder.

A silence is a list of matchers (:mod:`kstalerts.lifecycle.matchers`), a
start and an end (wall-clock UTC seconds), a comment and an author. Functions
here change a plain document (``{"silences": [...]}``) the caller holds in
one transaction; :func:`active` reads one.

Rules (Alertmanager's): a comment is required; at least one matcher must
not match the empty string; a duration is at most ``silence.duration``'s
limit (30 days; default 1 hour); at most ``MAX_SILENCES`` are kept, expired
ones dropped first (oldest end first), and a new one is refused when every
slot holds a live silence. Expiring sets the end to now; an unknown id is
an error naming the command that lists them. A stored silence whose
matchers no longer parse is ignored with a warning, never a failed send.
"""

import logging
import os

from .._typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple
from ..exceptions import AlertConfigurationError
from ..limits import MAX_SILENCES, finite_number
from .matchers import Matcher, matches_all, parse_matchers

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")
_MAX_COMMENT = 1024
_MAX_MATCHERS = 32


class Silence(NamedTuple):
    """One silence as stored; ``matchers`` parsed."""

    id: str
    matchers: Tuple[Matcher, ...]
    starts: float
    ends: float
    comment: str
    author: str
    created: float

    def state(self, now: float) -> str:
        """``active``, ``pending`` (starts later) or ``expired``."""
        if now >= self.ends:
            return "expired"
        return "active" if now >= self.starts else "pending"

    def to_dict(self, now: float) -> Dict[str, Any]:
        """A JSON-ready view (``kstalerts silence query --json``)."""
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts": self.starts,
            "ends": self.ends,
            "comment": self.comment,
            "author": self.author,
            "state": self.state(now),
        }


def add(
    doc: Dict[str, Any],
    matchers: Sequence[str],
    seconds: float,
    comment: str,
    author: str,
    now: float,
) -> Silence:
    """A new silence from now for ``seconds`` (already within the limits), stored in ``doc``."""
    if not isinstance(comment, str) or not comment.strip():
        raise AlertConfigurationError('a silence needs a comment saying why (--comment "rebooting db1")')
    if len(matchers) > _MAX_MATCHERS:
        raise AlertConfigurationError(f"{len(matchers)} matchers; a silence takes at most {_MAX_MATCHERS}")
    parsed = parse_matchers(matchers, need_non_empty=True)
    items = _items(doc)
    if len(items) >= MAX_SILENCES:
        items.sort(key=lambda s: finite_number(s.get("ends")) or 0.0)
        while items and len(items) >= MAX_SILENCES and (finite_number(items[0].get("ends")) or 0.0) <= now:
            items.pop(0)
        if len(items) >= MAX_SILENCES:
            raise AlertConfigurationError(
                f"{len(items)} silences are live, the most kept at once; expire some first"
                " (kstalerts silence query, kstalerts silence expire ID)"
            )
    silence = Silence(
        os.urandom(8).hex(),
        parsed,
        now,
        now + seconds,
        comment.strip()[:_MAX_COMMENT],
        (author or "").strip()[:128],
        now,
    )
    items.append(
        {
            "id": silence.id,
            "matchers": [str(m) for m in parsed],
            "starts": silence.starts,
            "ends": silence.ends,
            "comment": silence.comment,
            "author": silence.author,
            "created": now,
        }
    )
    doc["silences"] = items
    return silence


def expire(doc: Dict[str, Any], silence_id: str, now: float) -> bool:
    """End the silence ``silence_id`` (or a unique prefix of it, 4+ characters) now.

    Returns False when it had already ended. An unknown id raises.
    """
    items = _items(doc)
    wanted = silence_id.strip().lower()
    found = [
        s for s in items if isinstance(s.get("id"), str) and len(wanted) >= 4 and s["id"].startswith(wanted)
    ]
    if len(found) != 1:
        what = "is unknown" if not found else "matches several silences; give more of it"
        raise AlertConfigurationError(
            f"silence id {silence_id!r} {what} (list them: kstalerts silence query --all)"
        )
    item = found[0]
    if (finite_number(item.get("ends")) or 0.0) <= now:
        return False
    item["ends"] = now
    doc["silences"] = items
    return True


def listing(doc: Dict[str, Any]) -> List[Silence]:
    """Every stored silence that parses, oldest first."""
    out: List[Silence] = []
    for item in _items(doc):
        silence = _parsed(item)
        if silence is not None:
            out.append(silence)
    return sorted(out, key=lambda s: s.created)


def active(doc: Dict[str, Any], now: float) -> List[Silence]:
    """The silences in force at ``now``."""
    return [s for s in listing(doc) if s.state(now) == "active"]


def silencing(silences: Sequence[Silence], seen: Dict[str, str]) -> List[str]:
    """The ids of the silences among ``silences`` whose matchers all hold for ``seen``."""
    return [s.id for s in silences if matches_all(s.matchers, seen)]


def _items(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    items = doc.get("silences")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _parsed(item: Dict[str, Any]) -> Optional[Silence]:
    starts, ends = finite_number(item.get("starts")), finite_number(item.get("ends"))
    matchers = item.get("matchers")
    if (
        starts is None
        or ends is None
        or not isinstance(matchers, list)
        or not isinstance(item.get("id"), str)
    ):
        _log.warning("a stored silence is damaged and ignored: %.200r", item)
        return None
    try:
        parsed = parse_matchers(matchers, need_non_empty=True)
    except AlertConfigurationError as exc:
        _log.warning("stored silence %s is ignored: %s", item["id"], exc)
        return None
    return Silence(
        item["id"],
        parsed,
        starts,
        ends,
        str(item.get("comment", "")),
        str(item.get("author", "")),
        finite_number(item.get("created")) or starts,
    )
