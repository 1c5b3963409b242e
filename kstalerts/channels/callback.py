"""Channels that deliver inside the process: a callback and a console stream.

They need no network, which makes them the channels of choice for tests,
examples and dry runs. A callback that raises :class:`AlertDeliveryError`
goes through the same retry loop as any other channel.
"""

import sys

from .._typing import Any, Callable, Dict, Mapping, Optional, TextIO
from ..models import AlertMessage
from ._options import Option
from .base import AlertChannel

__all__ = ()


class CallbackChannel(AlertChannel):
    """Deliver by calling ``callback(alert)``; its return value, if a
    string, becomes the result's ``message_id``.

    >>> seen = []
    >>> ch = CallbackChannel(seen.append, name="memory")
    >>> ch.send(AlertMessage("hello")).success, seen[0].title
    (True, 'hello')
    """

    kind = "callback"

    def __init__(
        self, callback: Callable[[AlertMessage], Any], *, name: Optional[str] = None, **options: Any
    ) -> None:
        super().__init__(name=name, **options)
        self._callback = callback

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:
        returned = self._callback(alert)
        return returned if isinstance(returned, str) else None


class ConsoleChannel(AlertChannel):
    """Write each alert as one block of text to a stream (stderr by default)."""

    kind = "console"
    options = (
        Option("stream", "choice", "where the text goes", default="stderr", choices=("stderr", "stdout")),
    )

    def __init__(
        self, stream: Optional[TextIO] = None, *, name: Optional[str] = None, **options: Any
    ) -> None:
        super().__init__(name=name, **options)
        self._stream = stream

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(self.preview(alert) + "\n")
        stream.flush()
        return None

    @classmethod
    def _from_values(
        cls, values: Dict[str, Any], config: Mapping[str, Any], resolver: Any
    ) -> "ConsoleChannel":
        """``stream: stdout|stderr`` names the process's stream at build time."""
        stream = sys.stdout if values.pop("stream", "stderr") == "stdout" else sys.stderr
        return cls(stream, **values)
