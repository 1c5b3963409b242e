"""One description per channel type (kstalerts/channels/_options.py).

Each channel class lists its options once; the schema's keys, ``from_config``,
the constructor's keywords and the options tables of docs/channels.md must
all agree with that list. A misspelt choice names the closest valid one.
"""

import inspect
import pathlib
import sys
from typing import Any, Callable, Dict

import pytest

from kstalerts import AlertManager
from kstalerts._secret import Secret
from kstalerts.channels import CHANNEL_TYPES, ConsoleChannel, channel_class
from kstalerts.channels._options import COMMON, COMMON_KEYS, Option, options_markdown, read, resolve_secret
from kstalerts.channels.base import AlertChannel
from kstalerts.config.loader import load_config
from kstalerts.config.schema import CHANNEL_COMMON_KEYS
from kstalerts.exceptions import AlertConfigurationError

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "<!-- options: generated from the channel descriptions; tests/test_channel_options.py -->"
END = "<!-- options: end -->"


class _Resolver:
    def __init__(self, values: Dict[str, Any]) -> None:
        self.values = values

    def resolve(self, name: str) -> Any:
        return self.values[name]


@pytest.mark.parametrize("kind", sorted(CHANNEL_TYPES))
def test_description_schema_keys_and_constructor_agree(kind: str) -> None:
    cls = channel_class(kind)
    options = cls.options
    assert options, kind
    names = [o.name for o in options]
    assert len(names) == len(set(names)), f"{kind}: an option is described twice"
    assert cls.config_keys == frozenset(names)
    assert not COMMON_KEYS & cls.config_keys, kind
    assert CHANNEL_COMMON_KEYS == COMMON_KEYS
    # A keyword may be taken by a base class (HTTPChannel takes the transport options).
    parameters: Dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__[:-1]):
        if "__init__" in klass.__dict__:
            parameters.update(inspect.signature(klass.__dict__["__init__"]).parameters)
    for option in options:
        assert option.doc, f"{kind}.{option.name} has no description"
        if option.manual:
            continue  # read by the class's _from_values hook
        parameter = parameters.get(option.keyword)
        assert parameter is not None, f"{kind}: {option.keyword} is not a keyword of {cls.__name__}"
        if parameter.default is not inspect.Parameter.empty and not option.choices:  # a choice is a name
            assert parameter.default == option.default, f"{kind}.{option.name}: default differs"


@pytest.mark.parametrize("kind", sorted(CHANNEL_TYPES))
def test_the_schema_accepts_every_described_key_and_no_other(kind: str) -> None:
    cls = channel_class(kind)
    for key in sorted(COMMON_KEYS | cls.config_keys):
        value: Any = {} if key == "throttle" else ("info" if key == "min_level" else None)
        if key == "type":
            continue
        entry = {"type": kind, key: value} if value is not None else {"type": kind}
        load_config({"alerts": {"channels": {"x": entry}}})  # no "unknown key"
    with pytest.raises(AlertConfigurationError, match="unknown key"):
        load_config({"alerts": {"channels": {"x": {"type": kind, "no_such_option": 1}}}})


def test_from_config_passes_plain_options_to_their_keywords() -> None:
    # PagerDuty has the most plain options: each one reaches the channel.
    cls = channel_class("pagerduty")
    config: Dict[str, Any] = {"routing_key": "R" * 32, "source": "db1", "component": "disk", "group": "g", "class": "c"}
    config.update({"client": "me", "client_url": "https://me.example", "resolve": True, "ssl_verify": False})
    channel = cls.from_config(config)
    assert (channel.source, channel.event_class) == ("db1", "c")  # type: ignore[attr-defined]
    assert (channel.component, channel.group, channel.client) == ("disk", "g", "me")  # type: ignore[attr-defined]
    assert channel.resolving is True  # type: ignore[attr-defined]


def test_a_misspelt_console_stream_names_the_closest_choice() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        ConsoleChannel.from_config({"stream": "stdot"})
    assert str(info.value) == "stream: console: stream is 'stdot'; did you mean 'stdout'?"
    assert ConsoleChannel.from_config({"stream": "stdout"})._stream is sys.stdout


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"transport": "smpt"}, "transport: must be 'smtp' or 'resend', got 'smpt'; did you mean 'smtp'?"),
        (
            {"host": "m.example.com", "security": "startls", "sender": "a@example.com", "recipients": "b@example.com"},
            "security: email: security is 'startls'; did you mean 'starttls'?",
        ),
    ],
)
def test_a_misspelt_email_choice_names_the_closest_one(entry: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        channel_class("email").from_config(entry)
    assert str(info.value) == message


def test_a_misspelt_choice_in_a_file_names_file_line_and_key(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("alerts:\n  channels:\n    out:\n      type: console\n      stream: stdot\n", encoding="utf-8")
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(str(path))
    assert str(info.value) == (
        f"{path}:5: alerts.channels.out.stream: console: stream is 'stdot'; did you mean 'stdout'?"
    )


def test_read_judges_each_kind() -> None:
    assert read(Option("k", "text", "d"), "v", "s") == "v"
    with pytest.raises(AlertConfigurationError, match="^k: s: k must be a string, got int$"):
        read(Option("k", "text", "d"), 3, "s")
    with pytest.raises(AlertConfigurationError, match="^k: s: k must be true or false, got 'no'$"):
        read(Option("k", "bool", "d"), "no", "s")
    with pytest.raises(AlertConfigurationError, match="^k: s: k is a int; expected one of: a, b$"):
        read(Option("k", "choice", "d", choices=("a", "b")), 3, "s")
    with pytest.raises(AlertConfigurationError, match="^k: s: k must be a mapping of x$"):
        read(Option("k", "mapping", "d", what="a mapping of x"), [], "s")


def test_resolve_secret() -> None:
    assert resolve_secret({"k": Secret("v")}, "k", None, service="s") == "v"
    assert resolve_secret({}, "k", None, service="s") is None
    with pytest.raises(AlertConfigurationError, match="^k: s: k must be a string$"):
        resolve_secret({"k": 5}, "k", None, service="s")
    with pytest.raises(AlertConfigurationError, match="^credentials: s: credential 'c' must be a string$"):
        resolve_secret({"credentials": "c"}, "k", _Resolver({"c": 5}), service="s")
    with pytest.raises(AlertConfigurationError, match="^k: s: give either credentials or k, not both$"):
        resolve_secret({"credentials": "c", "k": "v"}, "k", _Resolver({"c": "w"}), service="s")


def test_docs_channels_options_tables_match_the_descriptions() -> None:
    text = (ROOT / "docs" / "channels.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/channels.md lost its options section markers"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    types = {kind: channel_class(kind) for kind in CHANNEL_TYPES}
    assert shown == options_markdown(types), (
        "docs/channels.md options differ from the descriptions; regenerate with"
        " python -c 'from tests.test_channel_options import regenerate; regenerate()'"
    )
    assert COMMON[0].name == "type"


def regenerate() -> None:
    """Rewrite the options section of docs/channels.md from the descriptions."""
    page = ROOT / "docs" / "channels.md"
    text = page.read_text(encoding="utf-8")
    types = {kind: channel_class(kind) for kind in CHANNEL_TYPES}
    block = f"{BEGIN}\n{options_markdown(types)}{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n### Options of every channel type\n\n" + block + "\n"
    page.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("kind", ["slack", "webhook", "discord", "teams", "pagerduty", "alertmanager"])
def test_constructor_keywords_are_checked_as_described(kind: str) -> None:
    entry = {
        "slack": {"webhook_url": "https://hooks.slack.com/services/T0/B0/abc"},
        "webhook": {"url": "https://example.com/hook"},
        "discord": {"webhook_url": "https://discord.com/api/webhooks/1/abc"},
        "teams": {"webhook_url": "https://acme.webhook.office.com/webhookb2/abc"},
        "pagerduty": {"routing_key": "R" * 32},
        "alertmanager": {"url": "http://127.0.0.1:9093"},
    }[kind]
    cls: Callable[..., AlertChannel] = channel_class(kind)  # each takes its URL or key first
    (key, value), = entry.items()
    with pytest.raises(AlertConfigurationError) as info:
        cls(value, ssl_verify="no")  # a truthy string must not mean "verify" by accident
    assert str(info.value) == f"ssl_verify: {kind}: ssl_verify must be true or false, got 'no'"
    with pytest.raises(AlertConfigurationError, match=f"^proxy: {kind}: proxy must be a string, got int$"):
        cls(value, proxy=3128)


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    from kstalerts.channels import AlertmanagerChannel

    with pytest.raises(AlertConfigurationError) as info:
        AlertmanagerChannel.from_config(
            {"url": "http://127.0.0.1:9093", "username": "ops", "password": 98765432}
        )
    assert "98765432" not in str(info.value) and "password" in str(info.value)


@pytest.mark.parametrize("kind", sorted(CHANNEL_TYPES))
def test_every_secret_option_is_masked_when_the_config_is_shown(kind: str) -> None:
    from kstalerts.config.loader import _SECRET_FIELDS

    for option in channel_class(kind).options or ():
        if option.secret:
            assert option.name in _SECRET_FIELDS, f"{kind}.{option.name} would be printed by check-config"
