"""Shared test setup.

Every module in ``tests/servers/`` is a pytest plugin: its fixtures (real
servers on 127.0.0.1, port 0) are available to every test. The package is
imported through this one line, so the suite can run against a vendored
copy by changing it.

Tests marked ``slow(seconds=N)`` run first, longest first, dealt over the
pytest-xdist workers (see :func:`pytest_collection_modifyitems`), so that
under ``-n 4`` no long test starts near the end of the run and holds it up.
"""

import logging
import os
import pathlib
from typing import List

import pytest
from hypothesis import settings

import kstalerts  # noqa: F401  (the one import of the package under test)

# Hypothesis's default 200 ms deadline per example fails a property test on a
# loaded machine (two cores shared by four workers and their servers): time
# is bounded by the suite's own timeouts instead.
settings.register_profile("kstalerts", deadline=None)
settings.load_profile("kstalerts")

_SERVERS = pathlib.Path(__file__).parent / "servers"
pytest_plugins = sorted(
    f"tests.servers.{path.stem}" for path in _SERVERS.glob("*.py") if not path.stem.startswith("_")
)


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's or the machine's config by accident."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KSTALERTS_NO_DISCOVERY", "1")
    for name in (
        "KSTALERTS_CONFIG",
        "KSTALERTS_PRESET",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog at DEBUG for every kstalerts logger."""
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    return caplog


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("slow")
    return float(marker.kwargs.get("seconds", 1.0)) if marker else 0.0


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """The ``slow`` tests first, longest first, each to the least loaded worker's first batch.

    pytest-xdist's ``load`` scheduling sends each of its N workers a first
    batch of consecutive tests (a quarter of an N-th of them), then refills
    the workers that run low from the front of what is left. A long test near
    the end of the collection therefore starts late and the run waits for it
    alone; put first, in the batches, the long tests overlap with the rest.
    Every worker collects the same order (it is computed, not random).
    """
    slow = sorted((item for item in items if _seconds(item)), key=_seconds, reverse=True)
    if not slow:
        return
    rest = [item for item in items if not _seconds(item)]
    workerinput = getattr(config, "workerinput", {})
    workers = int(workerinput.get("workercount", os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    if workers <= 1:
        items[:] = slow + rest
        return
    batch = max(len(items) // workers // 4, 2)  # the first batch each worker gets (xdist's load scheduling)
    heads: List[List[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for item in slow:  # longest processing time first: each to the least loaded worker
        worker = loads.index(min(loads))
        heads[worker].append(item)
        loads[worker] += _seconds(item)
    ordered: List[pytest.Item] = []
    rest.reverse()  # popped from the end: in collection order
    for worker, head in enumerate(heads):
        ordered += head
        while rest and len(ordered) < (worker + 1) * batch:
            ordered.append(rest.pop())
    items[:] = ordered + rest[::-1]
