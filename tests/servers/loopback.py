"""Fixtures: the package's own loopback sinks (kstalerts.net.loopback), started per test."""

from typing import Iterator

import pytest

from kstalerts.net.loopback import HTTPSink, SMTPSink


@pytest.fixture
def loopback_http() -> Iterator[HTTPSink]:
    """A Slack-compatible HTTP sink on 127.0.0.1, port 0."""
    with HTTPSink() as sink:
        yield sink


@pytest.fixture
def loopback_smtp() -> Iterator[SMTPSink]:
    """A minimal SMTP sink on 127.0.0.1, port 0; rejects nobody@example.test."""
    with SMTPSink(reject=("nobody@example.test",)) as sink:
        yield sink
