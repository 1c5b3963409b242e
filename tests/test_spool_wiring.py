"""Config keys of the spool feature: alerts.spool.*, alerts.dedup.*, throttle.state_file, spool_throttled."""

import logging
import os
import pathlib

import pytest

from kstalerts import AlertConfigurationError, AlertManager, AlertMessage
from tests.servers.sink import StoppableHTTPSink

CONFIG = """\
alerts:
  spool:
    path: spool
    max_age: 3600
    max_entries: 500
  dedup:
    window: 600
    state_file: ~/dedup.json
  throttle: {rate: 10, per: 60, burst: 5, state_file: state/throttle.json}
  channels:
    max_retries: 0
    ops:
      type: console
      spool_throttled: true
    quiet:
      type: console
      throttle: {rate: 2, per: 60, state_file: /tmp/other-throttle.json}
    plain:
      type: console
      throttle: false
"""


def test_the_spool_keys_build_spool_dedup_and_shared_throttles(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text(CONFIG)
    with AlertManager.from_config(str(path)) as manager:
        spool, dedup = manager.spool, manager.dedup
        entries = {entry.key: entry for entry in manager.channels}
    assert spool is not None and dedup is not None
    assert (spool.path, spool.max_age, spool.max_entries) == (str(tmp_path / "spool"), 3600.0, 500)
    assert (dedup.window, dedup.state_file) == (600.0, os.path.expanduser("~/dedup.json"))
    ops, quiet, plain = entries["ops"], entries["quiet"], entries["plain"]
    assert (ops.spool_throttled, quiet.spool_throttled, plain.spool_throttled) == (True, False, False)
    assert ops.throttle is not None and quiet.throttle is not None and plain.throttle is None
    assert ops.throttle.state_file == str(tmp_path / "state" / "throttle.json")
    assert quiet.throttle.state_file == "/tmp/other-throttle.json"
    assert (quiet.throttle.rate, quiet.throttle.burst) == (2.0, 2)


def test_channels_sharing_a_state_file_keep_one_bucket_each(tmp_path: pathlib.Path) -> None:
    config = {
        "alerts": {
            "throttle": {"rate": 1, "per": 3600, "burst": 1, "state_file": str(tmp_path / "t.json")},
            "channels": {"a": {"type": "console"}, "b": {"type": "console"}},
        }
    }
    with AlertManager.from_config(config) as first, AlertManager.from_config(config) as second:
        (a1, b1), (a2, b2) = ([e.throttle for e in m.channels] for m in (first, second))
        assert a1 is not None and b1 is not None and a2 is not None and b2 is not None
        assert a1.try_acquire() and b1.try_acquire()  # one bucket per channel key
        assert not a2.try_acquire() and not b2.try_acquire()  # shared with the other manager


def test_a_spool_from_config_catches_a_failed_send(
    tmp_path: pathlib.Path, http_sink: StoppableHTTPSink
) -> None:
    http_sink.stop()
    config = {
        "alerts": {
            "spool": {"path": str(tmp_path / "spool")},
            "channels": {"hook": {"type": "webhook", "url": http_sink.url(), "max_retries": 0}},
        }
    }
    with AlertManager.from_config(config) as manager:
        (result,) = manager.send(AlertMessage("x"))
    assert result.spooled
    assert len(os.listdir(tmp_path / "spool")) == 2  # the entry and the lock file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "alerts:\n  spool:\n    max_age: 100\n",
            "kstlib.conf.yml:2: alerts.spool.path: a spool needs a path",
        ),
        ("alerts:\n  spool:\n    path: 12\n", "kstlib.conf.yml:3: alerts.spool.path: must be a path, got 12"),
        (
            "alerts:\n  spool:\n    path: s\n    max_entries: many\n",
            "kstlib.conf.yml:4: alerts.spool.max_entries: must be a number, got 'many'",
        ),
        (
            "alerts:\n  dedup:\n    state_file: d.json\n",
            "kstlib.conf.yml:2: alerts.dedup.window: duplicate suppression needs a window",
        ),
        (
            "alerts:\n  dedup: {window: soon}\n",
            "kstlib.conf.yml:2: alerts.dedup.window: must be a number, got 'soon'",
        ),
        (
            "alerts:\n  throttle:\n    state_file: ''\n  channels:\n    ops: {type: console}\n",
            "kstlib.conf.yml:3: alerts.throttle.state_file: must be a path, got ''",
        ),
    ],
)
def test_errors_name_the_file_the_line_and_the_key(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text(text)
    with pytest.raises(AlertConfigurationError) as caught:
        AlertManager.from_config(str(path))
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_clamped_values_name_their_key(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("alerts:\n  spool: {path: s, max_age: 1}\n  dedup: {window: 99999999}\n")
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        with AlertManager.from_config(str(path)) as manager:
            assert manager.spool is not None and manager.spool.max_age == 60.0
            assert manager.dedup is not None and manager.dedup.window == 604800.0
    assert [r.getMessage() for r in caplog.records] == [
        "alerts.spool.max_age: asked 1, applied 60.0 (the minimum)",
        "alerts.dedup.window: asked 99999999, applied 604800.0 (the maximum)",
    ]
