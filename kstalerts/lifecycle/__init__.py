"""The alert lifecycle on one host: Alertmanager's semantics without its server.

An alert has an identity (:mod:`.identity`); a notification log
(:mod:`.nflog`) says, per identity and per channel, what was last delivered
and when; a firing identity is held until ``repeat_interval`` passes, then
sent again as a reminder; ``resolve`` tells the channels that heard it
fire; silences (:mod:`.silences`) and inhibition rules (:mod:`.inhibit`)
mute alerts by matchers (:mod:`.matchers`); heartbeats (:mod:`.heartbeats`)
and flapping (:mod:`.flapping`) are judged by the tick. :class:`Lifecycle`
(:mod:`.engine`) ties them to one state folder (:mod:`._store`).

Rules: nothing here is imported unless the lifecycle is turned on
(``alerts.lifecycle`` in config, or ``lifecycle=`` in code); every piece
but the store is pure and takes the time as an argument.
"""

from .engine import Due, Lifecycle, Resolution
from .nflog import Verdict
from .silences import Silence

__all__ = ("Lifecycle", "Resolution", "Due", "Verdict", "Silence")
