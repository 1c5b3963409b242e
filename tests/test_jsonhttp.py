"""The helpers the JSON channels share (kstalerts/channels/_jsonhttp.py)."""

import json
from typing import Any, Dict

import pytest

from kstalerts.channels._jsonhttp import (
    encode_json,
    iso_time,
    json_encoder,
    json_shape,
    json_string,
    service_text,
    status_error,
)
from kstalerts.exceptions import AlertConfigurationError, AlertDeliveryError
from kstalerts.net.http import HTTPResponse


def test_encode_json_and_time() -> None:
    assert encode_json({"a": "\u00e9"}) == b'{"a":"\\u00e9"}'
    with pytest.raises(AlertDeliveryError, match="more than the 1048576-byte request limit"):
        encode_json("x" * 1048576)
    assert iso_time(0.9996) == "1970-01-01T00:00:00.999Z"  # truncated


_PAYLOADS = [
    {"text": "d\u00e9j\u00e0 \u2028\x00\"\\", "ts": 1, "n": [1, 2.5, None, True, False], "c": {"d": {}}},
    "a bare string",
    3,
    None,
    [],
    {"nan": float("nan"), "inf": float("-inf")},
    {1: "int key", None: "null key", False: "bool key", 2.5: "float key"},
]


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_json_encoder_writes_what_json_dumps_writes(ensure_ascii: bool, separators: Any) -> None:
    encode = json_encoder(ensure_ascii=ensure_ascii, separators=separators)
    for payload in _PAYLOADS * 2:  # twice: the encoder built once is used again
        assert encode(payload) == json.dumps(payload, ensure_ascii=ensure_ascii, separators=separators)


def test_json_encoder_refuses_what_json_cannot_hold() -> None:
    encode = json_encoder()
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode({"when": object()})
    looped: Dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(RecursionError):  # no check for circular references: a cycle still fails
        encode(looped)
    assert encode({"after": "a failure"}) == '{"after":"a failure"}'  # nothing left over


def test_service_text_is_one_safe_line() -> None:
    assert service_text(b"bad\r\n\tthing  TOKEN here", hide=["TOKEN"]) == "bad thing *** here"
    assert service_text("x" * 400) == "x" * 137 + " [… 126 characters cut …] " + "x" * 137


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


# -- one credential rule for every channel type -----------------------------------

#: type -> (the literal secret's key, the other keys of a valid entry)
SECRET_ENTRIES: Dict[str, Any] = {
    "slack": ("webhook_url", {"webhook_url": "https://hooks.slack.com/services/T0/B0/abc"}),
    "webhook": ("url", {"url": "https://example.com/hook"}),
    "discord": ("webhook_url", {"webhook_url": "https://discord.com/api/webhooks/1/abc"}),
    "teams": ("webhook_url", {"webhook_url": "https://acme.webhook.office.com/webhookb2/abc"}),
    "pagerduty": ("routing_key", {"routing_key": "R" * 32}),
    "alertmanager": ("bearer_token", {"url": "http://127.0.0.1:9093", "bearer_token": "tok"}),
    "ntfy": ("token", {"url": "https://ntfy.example/alerts", "token": "tk_abc"}),
    "matrix": (
        "access_token",
        {"homeserver": "https://matrix.example", "room_id": "!r:example", "access_token": "syt_abc"},
    ),
    "email": (
        "password",
        {"host": "127.0.0.1", "sender": "a@example.com", "recipients": ["b@example.com"], "password": "pw"},
    ),
    "email-resend": (
        "api_key",
        {
            "transport": "resend",
            "sender": "a@example.com",
            "recipients": ["b@example.com"],
            "api_key": "re_x",
        },
    ),
}


def test_the_credential_rule_covers_every_channel_type_with_a_secret() -> None:
    from kstalerts.channels import CHANNEL_TYPES

    covered = {kind.split("-")[0] for kind in SECRET_ENTRIES}
    without_secret = {"console", "syslog", "journald", "exec"}  # local: nothing to authenticate with
    assert covered == set(CHANNEL_TYPES) - without_secret


@pytest.mark.parametrize("kind", sorted(SECRET_ENTRIES))
def test_credentials_next_to_a_literal_secret_is_refused(
    kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kstalerts import AlertManager

    field, entry = SECRET_ENTRIES[kind]
    monkeypatch.setenv("KST_TEST_SECRET", "from-the-credential")
    lines = [
        "alerts:",
        "  channels:",
        "    ops:",
        f"      type: {kind.split('-')[0]}",
        "      credentials: hook",
    ]
    lines += [f"      {key}: {json.dumps(value)}" for key, value in entry.items()]  # JSON is YAML flow
    lines += ["credentials:", "  hook: {type: env, var: KST_TEST_SECRET}", ""]
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("\n".join(lines), encoding="utf-8")
    line = 1 + next(i for i, text in enumerate(lines) if text.startswith(f"      {field}:"))
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(str(path))
    service = kind.split("-")[0]
    assert str(info.value) == (
        f"{path}:{line}: alerts.channels.ops.{field}: {service}: give either credentials or {field}, not both"
    )


# -- json_shape: a payload's JSON text with holes ------------------------------------------


def _probe(title: str, stamp: str, sender: str = "bot") -> str:
    payload = {"text": f"[WARNING] {title}", "title": title, "ts": int(stamp), "from": sender}
    return json.dumps(payload, ensure_ascii=False)


def test_a_shape_is_filled_with_values_as_they_stand_in_the_json() -> None:
    text, check = _probe("hole-a", "9000000001"), _probe("hole-b", "9000000002")
    fill = json_shape(text, ("hole-a", "9000000001"), check, ("hole-b", "9000000002"))
    assert fill is not None
    title = 'disk {0} %s "full" \u00e9\n'
    filled = fill(json_string(title)[1:-1], "1700000000")
    assert filled == _probe(title, "1700000000")
    assert json_string(title) == json.dumps(title, ensure_ascii=False)


def test_a_marker_in_a_constant_fails_the_check() -> None:
    """The sender holds the first marker: filling the second set cannot give the second text."""
    text = _probe("hole-a", "9000000001", sender="hole-a")
    check = _probe("hole-b", "9000000002", sender="hole-a")
    assert json_shape(text, ("hole-a", "9000000001"), check, ("hole-b", "9000000002")) is None


def test_a_value_the_text_depends_on_fails_the_check() -> None:
    """A payload that is not the same around its holes (here: the title's length) has no shape."""
    text = json.dumps({"title": "hole-a", "size": 6})
    check = json.dumps({"title": "hole-bb", "size": 7})
    assert json_shape(text, ("hole-a",), check, ("hole-bb",)) is None


def test_a_hole_the_payload_leaves_out_is_no_hole() -> None:
    text, check = json.dumps({"title": "hole-a"}), json.dumps({"title": "hole-b"})
    fill = json_shape(text, ("hole-a", "9000000001"), check, ("hole-b", "9000000002"))
    assert fill is not None and fill("x", "1") == '{"title": "x"}'
    empty = json_shape(text, ("hole-a", ""), check, ("hole-b", ""))  # no labels: their hole is empty
    assert empty is not None and empty("x", "") == '{"title": "x"}'
