"""A missing real server is a skip on a laptop and a failure in CI."""

import pytest

from tests.servers._require import unavailable


def test_missing_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="tinyproxy is not installed"):
        unavailable("tinyproxy is not installed")


def test_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="a missing server is a failure, not a skip"):
        unavailable("tinyproxy is not installed")
