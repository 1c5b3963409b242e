"""Figures of the delivery path, for one tree: ``python -m benchmarks.pipeline_probe TREE``.

Run by :mod:`benchmarks.pipeline_compare` once per tree (the branch and its
base), each in its own interpreter importing ``kstalerts`` from ``TREE``.
Prints one JSON line:

- ``frames``: for one Slack alert and one SMTP alert sent through
  ``AlertManager.send()`` to a loopback server, the Python frames between
  ``send`` and the socket call (``socket.send``), the modules they run in, and
  the non-channel modules entered more than once on the way (a module left
  and entered again, as ``digest`` was three times);
- ``per_alert_us``: the cost of ``manager.send(alert)`` with one Slack
  channel (no throttle, no dedup), microseconds per alert, per round;
- ``inprocess_us``: the same with one ``CallbackChannel`` (no network: the
  manager's and the pipeline's own cost).
"""

import json
import socket
import sys
import time
from typing import Any, Dict, List

TREE = sys.argv[1]
HTTP_PORT, SMTP_PORT = int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, TREE)

from kstalerts import AlertLevel, AlertManager, AlertMessage  # noqa: E402
from kstalerts.channels import EmailChannel, SlackChannel  # noqa: E402
from kstalerts.transports import SMTPTransport  # noqa: E402

_stacks: List[List[Any]] = []
_real_send = socket.socket.send


def _spy(self: socket.socket, data: Any, *args: Any) -> Any:
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append((frame.f_code.co_name, frame.f_globals.get("__name__", "?")))
        if frame.f_code.co_name == "send" and frame.f_globals.get("__name__") == "kstalerts.manager":
            break
        frame = frame.f_back
    _stacks.append(frames[::-1])
    return _real_send(self, data, *args)


def _path(manager: AlertManager) -> Dict[str, Any]:
    del _stacks[:]
    socket.socket.send = _spy  # type: ignore[method-assign]
    try:
        [result] = manager.send(AlertMessage("disk full", "on db1", AlertLevel.CRITICAL))
    finally:
        socket.socket.send = _real_send  # type: ignore[method-assign]
    assert result.success, result
    stack = next(s for s in _stacks if s and s[0][0] == "send")  # the first write of the message itself
    modules = [m for _, m in stack]
    runs = [m for i, m in enumerate(modules) if i == 0 or modules[i - 1] != m]
    again = sorted({m for m in runs if runs.count(m) > 1 and ".channels." not in m})
    return {"frames": len(stack), "modules": runs, "reentered": again, "stack": stack}


def main() -> None:
    url = f"http://127.0.0.1:{HTTP_PORT}/services/T000/B000/XXXXXXXX"
    slack = SlackChannel(url, allow_custom_url=True, max_retries=0, timeout=10)
    transport = SMTPTransport("127.0.0.1", SMTP_PORT, security="none")
    mail = EmailChannel(transport, sender="a@example.com", recipients="b@example.com")
    out: Dict[str, Any] = {"tree": TREE}
    with AlertManager() as manager:
        manager.add_channel(slack, key="slack")
        manager.send(AlertMessage("warm up"))
        out["slack"] = _path(manager)
    with AlertManager() as manager:
        manager.add_channel(mail, key="mail")
        manager.send(AlertMessage("warm up"))
        out["smtp"] = _path(manager)
    slack = SlackChannel(url, allow_custom_url=True, max_retries=0, timeout=10)
    alert = AlertMessage("disk full", "on db1", AlertLevel.CRITICAL)
    per = []
    with AlertManager() as manager:
        manager.add_channel(slack, key="slack")
        for _ in range(50):
            manager.send(alert)
        for _ in range(int(sys.argv[4]) if len(sys.argv) > 4 else 15):
            start = time.perf_counter()
            for _ in range(200):
                manager.send(alert)
            per.append((time.perf_counter() - start) / 200 * 1e6)
    out["per_alert_us"] = per
    from kstalerts.channels import CallbackChannel

    inprocess = []
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(lambda a: None, name="ops"))
        for _ in range(2000):
            manager.send(alert)
        for _ in range(15):
            start = time.perf_counter()
            for _ in range(2000):
                manager.send(alert)
            inprocess.append((time.perf_counter() - start) / 2000 * 1e6)
    out["inprocess_us"] = inprocess
    print(json.dumps(out))


main()
