"""Build the package's real network channels for a benchmark, if this tree has them.

Channel modules arrive on their own branches; until one has landed the
benchmark that needs it reports "not run" with the reason, instead of
measuring a stand-in under the real name.
"""

import importlib
import inspect
from typing import Any, Dict, Optional, Tuple

__all__ = ("load", "slack_channel", "webhook_channel")


def load(module: str, attr: str) -> Tuple[Optional[Any], str]:
    """``(object, "")`` or ``(None, why it is missing)``."""
    try:
        mod = importlib.import_module(module)
        return getattr(mod, attr), ""
    except (ImportError, AttributeError) as exc:
        return None, f"{module}.{attr} not in this tree ({type(exc).__name__})"


def slack_channel(port: int, *, name: str = "slack", timeout: float = 10.0) -> Any:
    """A SlackChannel posting to the loopback server on ``port``, no retries."""
    cls, why = load("kstalerts.channels.slack", "SlackChannel")
    if cls is None:
        raise LookupError(why)
    url = f"http://127.0.0.1:{port}/services/T000/B000/XXXXXXXX"
    return cls(url, **_options(cls, name, timeout, allow_custom_url=True))


def webhook_channel(port: int, *, name: str = "webhook", timeout: float = 10.0) -> Any:
    """A WebhookChannel posting JSON to the loopback server on ``port``, no retries."""
    cls, why = load("kstalerts.channels.webhook", "WebhookChannel")
    if cls is None:
        raise LookupError(why)
    return cls(f"http://127.0.0.1:{port}/hook", **_options(cls, name, timeout))


def _options(cls: Any, name: str, timeout: float, **wanted: Any) -> Dict[str, Any]:
    """Keyword arguments for a loopback channel: no retries, no proxy, and
    whatever else is ``wanted`` (only those the class accepts)."""
    params = inspect.signature(cls).parameters
    options: Dict[str, Any] = {"name": name, "timeout": timeout, "max_retries": 0}
    for key, value in dict(wanted, proxy="").items():
        if key in params:
            options[key] = value
    return options
