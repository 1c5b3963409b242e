"""Child processes for tests/test_digest.py: ``python -m tests.digest_children MODE URL STATE``.

``hold``: a manager whose Slack channel throttles through the shared state
file sends ``first`` (delivered), then ``held one`` and ``held two`` (held
back), and dies without closing (``os._exit``), as a killed cron job would.
``deliver``: a new manager on the same state file sends one CRITICAL, then
closes. Each prints its results' ``success`` flags.
"""

import os
import sys

from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertThrottle
from kstalerts.channels import SlackChannel


def main(mode: str, url: str, state: str) -> None:
    manager = AlertManager().add_channel(
        SlackChannel(url, allow_custom_url=True, timeout=5, max_retries=0),
        key="ops",
        throttle=AlertThrottle(rate=1, per=3600, burst=1, state_file=state, state_key="ops"),
    )
    if mode == "hold":
        titles = ["first", "held one", "held two"]
        results = [manager.send(AlertMessage(t, level=AlertLevel.WARNING))[0] for t in titles]
        print(" ".join(str(r.success) for r in results), flush=True)
        os._exit(0)  # no close(): what was held back must survive in the state file
    [result] = manager.send(AlertMessage("DATABASE DOWN", level=AlertLevel.CRITICAL))
    manager.close()
    print(result.success, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
