"""The level filter: a channel takes only alerts at or above its ``min_level``.

It only admits or not (an alert below the floor gives no result at all);
it changes nothing. Not in the pipeline when the floor is the lowest level.
"""

from ..models import AlertLevel
from .notification import Notification
from .stage import Stage

__all__ = ()


class LevelFilter(Stage):
    """Admit alerts whose level reaches ``min_level``."""

    __slots__ = ("min_level",)

    def __init__(self, min_level: AlertLevel) -> None:
        self.min_level = min_level

    def admits(self, notification: Notification) -> bool:
        return notification.alert.level >= self.min_level

    def __repr__(self) -> str:
        return f"LevelFilter({self.min_level.name})"
