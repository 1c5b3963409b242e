"""The helpers the JSON channels share (kstalerts/channels/_jsonhttp.py)."""

import re
from typing import Any, Dict

import pytest

from kstalerts._secret import Secret
from kstalerts.channels._jsonhttp import (
    channel_options,
    check_service_url,
    encode_json,
    iso_time,
    resolve_secret,
    service_text,
    status_error,
)
from kstalerts.exceptions import AlertConfigurationError, AlertDeliveryError
from kstalerts.http import HTTPResponse


class _Resolver:
    def __init__(self, values: Dict[str, Any]) -> None:
        self.values = values

    def resolve(self, name: str) -> Any:
        return self.values[name]


def _check(url: Any) -> str:
    return check_service_url(
        url, service="X", hosts=(".x.example",), path=re.compile("/hook/"), allow_custom=False
    )


def test_check_service_url() -> None:
    assert _check(" https://a.x.example/hook/1 ") == "https://a.x.example/hook/1"
    for url, message in [
        ("", "webhook_url: X needs a webhook URL"),
        (None, "webhook_url: X needs a webhook URL"),
        ("a.x.example/hook/1", "webhook_url: X webhook URL must be an https:// URL, got ***"),
        ("https://u:p@a.x.example/hook/1", "webhook_url: X webhook URL must be https on *.x.example"),
    ]:
        with pytest.raises(AlertConfigurationError) as info:
            _check(url)
        assert str(info.value).startswith(message)


def test_encode_json_and_time() -> None:
    assert encode_json({"a": "\u00e9"}) == b'{"a":"\\u00e9"}'
    with pytest.raises(AlertDeliveryError, match="more than the 1048576-byte request limit"):
        encode_json("x" * 1048576)
    assert iso_time(0.9996) == "1970-01-01T00:00:00.999Z"  # truncated


def test_service_text_is_one_safe_line() -> None:
    assert service_text(b"bad\r\n\tthing  TOKEN here", hide=["TOKEN"]) == "bad thing *** here"
    assert service_text("x" * 400) == "x" * 299 + "\u2026"


@pytest.mark.parametrize(
    ("status", "retryable", "text"),
    [
        (500, True, "X server error (HTTP 500 Oops): d"),
        (408, True, "X server error (HTTP 408 Oops): d"),
        (429, True, "X rate limited the request (HTTP 429 Oops, retry after 5s): d"),
        (301, False, "X answered with a redirect (HTTP 301 Oops), not followed"),
        (404, False, "X rejected the request (HTTP 404 Oops): d"),
    ],
)
def test_status_error(status: int, retryable: bool, text: str) -> None:
    error = status_error("X", HTTPResponse(status, {"retry-after": "5"}, b"", "Oops"), "d")
    assert (str(error), error.retryable, error.status) == (text, retryable, status)


def test_resolve_secret() -> None:
    assert resolve_secret({"k": Secret("v")}, "k", None, service="s") == "v"
    assert resolve_secret({}, "k", None, service="s") is None
    with pytest.raises(AlertConfigurationError, match="^k: s: k must be a string$"):
        resolve_secret({"k": 5}, "k", None, service="s")
    with pytest.raises(AlertConfigurationError, match="^credentials: s: credential 'c' must be a string$"):
        resolve_secret({"credentials": "c"}, "k", _Resolver({"c": 5}), service="s")


def test_channel_options() -> None:
    options = channel_options({"ssl_verify": False, "proxy": "http://p:3128", "name": "n"}, service="s")
    assert options == {
        "name": "n",
        "timeout": None,
        "max_retries": None,
        "ssl_verify": False,
        "proxy": "http://p:3128",
    }
    with pytest.raises(AlertConfigurationError, match="^proxy: s: proxy must be a string$"):
        channel_options({"proxy": 3128}, service="s")
