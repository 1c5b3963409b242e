"""The exception tree and its messages."""

from typing import Any, Dict

import pytest

from kstalerts import AlertConfigurationError, AlertDeliveryError, AlertError, AlertThrottledError


@pytest.mark.parametrize("cls", [AlertConfigurationError, AlertDeliveryError])
def test_every_error_is_an_alert_error(cls: type) -> None:
    assert issubclass(cls, AlertError)
    assert issubclass(AlertThrottledError, AlertError)


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(AlertConfigurationError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "bad"),
        ({"key": "alerts.x"}, "alerts.x: bad"),
        ({"path": "a.yml"}, "a.yml: bad"),
        ({"path": "a.yml", "line": 4}, "a.yml:4: bad"),
        ({"path": "a.yml", "line": 4, "column": 2, "key": "k"}, "a.yml:4:2: k: bad"),
        ({"line": 4, "column": 2}, "line 4, column 2: bad"),
        ({"line": 4}, "line 4: bad"),
    ],
)
def test_configuration_error_locates_itself(kwargs: Dict[str, Any], text: str) -> None:
    error = AlertConfigurationError("bad", **kwargs)
    assert str(error) == text
    assert error.reason == "bad"


def test_delivery_error_carries_its_facts() -> None:
    error = AlertDeliveryError("HTTP 503", channel="ops", retryable=True, retry_after=2.0, status=503)
    assert (error.channel, error.retryable, error.retry_after, error.status) == ("ops", True, 2.0, 503)
    assert str(error) == "HTTP 503"


def test_throttled_error_carries_retry_after() -> None:
    assert AlertThrottledError("wait", retry_after=1.5).retry_after == 1.5


def test_a_closed_manager_has_its_own_error_under_the_configuration_error() -> None:
    from kstalerts import AlertManagerClosedError

    error = AlertManagerClosedError()
    assert isinstance(error, AlertConfigurationError) and isinstance(error, ValueError)
    assert (str(error), error.path, error.key) == ("this AlertManager is closed", None, None)


def test_the_tree_in_the_docstring_names_every_error_under_its_parent() -> None:
    import kstalerts.exceptions as module

    tree = [line for line in (module.__doc__ or "").splitlines() if "── " in line or line.strip() == "AlertError"]
    drawn = {}
    for line in tree:
        name = line.split("── ")[-1].split()[0] if "── " in line else line.split()[0]
        drawn[name] = (len(line) - len(line.lstrip(" │├└─")) - 4) // 4  # the tree is indented 4
    classes = {name: value for name, value in vars(module).items() if isinstance(value, type)}
    errors = [name for name, cls in classes.items() if issubclass(cls, module.AlertError)]
    assert set(drawn) == set(errors)
    assert {n for n, c in classes.items() if issubclass(c, Warning)} == {"NoChannelsWarning"}  # beside the tree
    parents = {name: getattr(module, name).__mro__[1].__name__ for name in errors}
    assert parents["AlertManagerClosedError"] == "AlertConfigurationError"
    for name, depth in drawn.items():
        expected = 0 if name == "AlertError" else drawn[parents[name]] + 1
        assert depth == expected, name
