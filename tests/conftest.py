"""Shared test setup.

Every module in ``tests/servers/`` is a pytest plugin: its fixtures (real
servers on 127.0.0.1, port 0) are available to every test. The package is
imported through this one line, so the suite can run against a vendored
copy by changing it.
"""

import logging
import pathlib

import pytest

import kstalerts  # noqa: F401  (the one import of the package under test)

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
