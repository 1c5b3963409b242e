"""AlertManager.from_config and the wiring step (kstalerts/config/wiring.py).

Channels are the console channel, plus a small test channel type
(``strict``) registered the way a channel module is, to show how a
channel's own ``config_keys`` and field errors come back located in the
file.
"""

import io
import pathlib
import sys
from typing import Any, ClassVar, Dict, FrozenSet, Iterator, List, Mapping, Optional, Tuple

import pytest

import kstalerts.channels as channels_module
from kstalerts import AlertLevel, AlertManager, AlertMessage, NoChannelsWarning, _settings
from kstalerts.channels import AlertChannel, ConsoleChannel
from kstalerts.config import reload_config
from kstalerts.exceptions import AlertConfigurationError

ROOT = pathlib.Path(__file__).resolve().parent.parent


class StrictChannel(AlertChannel):
    """A channel whose from_config needs an https URL, literal or credential."""

    kind = "strict"
    config_keys: ClassVar[FrozenSet[str]] = frozenset({"url"})

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(**options)
        self.url = url

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:
        return None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], credential_resolver: Any = None) -> "StrictChannel":
        if "credentials" in config:
            if credential_resolver is None:
                raise AlertConfigurationError("needs a credential resolver", key="credentials")
            url = credential_resolver.resolve(config["credentials"])
        else:
            url = config.get("url", "")
        if not url.startswith("https://"):
            raise AlertConfigurationError("must be an https:// URL", key="url")
        return cls(url, name=config.get("name"), timeout=config["timeout"], max_retries=config["max_retries"])


@pytest.fixture(autouse=True)
def strict_type() -> Iterator[None]:
    """``type: strict`` registered the public way, for the test only."""
    tables: Tuple[Dict[str, Any], ...] = (channels_module.CHANNEL_TYPES, channels_module._types)
    saved = [dict(table) for table in tables]
    channels_module.register_channel("strict", StrictChannel)
    reload_config()
    yield
    reload_config()
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)


def write(path: pathlib.Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


CONFIG = """\
alerts:
  throttle: {rate: 2, per: 60, burst: 1}
  channels:
    timeout: 12
    max_retries: 1
    ops:
      type: console
      stream: stdout
      name: operations
      min_level: warning
    audit:
      type: console
      timeout: 3
      throttle: {burst: 2}
    noisy:
      type: console
      throttle: false
  presets:
    prod:
      channels:
        ops: {min_level: critical}
"""


def test_channels_levels_aliases_and_defaults(tmp_path: pathlib.Path) -> None:
    with AlertManager.from_config(write(tmp_path / "c.yml", CONFIG)) as manager:
        entries = {e.key: e for e in manager.channels}
        assert list(entries) == ["ops", "audit", "noisy"]
        ops, audit, noisy = entries["ops"], entries["audit"], entries["noisy"]
        assert isinstance(ops.channel, ConsoleChannel)
        assert (ops.alias, ops.channel.name, ops.min_level) == (
            "operations",
            "ops",  # one name per channel: its key
            AlertLevel.WARNING,
        )
        assert (ops.channel.timeout, ops.channel.max_retries) == (12.0, 1)  # the channels defaults
        assert (audit.channel.timeout, audit.channel.max_retries, audit.min_level) == (
            3.0,
            1,
            AlertLevel.INFO,
        )
        assert ops.throttle is not None and (ops.throttle.rate, ops.throttle.per, ops.throttle.burst) == (
            2,
            60,
            1,
        )
        assert audit.throttle is not None and (audit.throttle.rate, audit.throttle.burst) == (2, 2)
        assert noisy.throttle is None


def test_each_channel_gets_its_own_bucket(
    tmp_path: pathlib.Path, capsys: "pytest.CaptureFixture[str]"
) -> None:
    config = {
        "alerts": {
            "throttle": {"rate": 1, "per": 3600, "burst": 1},
            "channels": {"a": {"type": "console"}, "b": {"type": "console"}},
        }
    }
    with AlertManager.from_config(config) as manager:
        first = manager.send(AlertMessage("one"))
        second = manager.send(AlertMessage("two"))
        a, b = manager.channels
        assert a.throttle is not b.throttle
    assert [(r.channel, r.success) for r in first] == [("a", True), ("b", True)]
    assert [(r.channel, r.throttled) for r in second] == [("a", True), ("b", True)]
    assert capsys.readouterr().err.count("[INFO] one") == 2


def test_preset_changes_a_channel(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "c.yml", CONFIG)
    with AlertManager.from_config(path, preset="prod") as manager:
        assert manager.channels[0].min_level == AlertLevel.CRITICAL
    monkeypatch.setenv("KSTALERTS_PRESET", "prod")
    with AlertManager.from_config(path) as manager:
        assert manager.channels[0].min_level == AlertLevel.CRITICAL


def test_level_filter_and_target_by_alias(capsys: "pytest.CaptureFixture[str]") -> None:
    config = {"alerts": {"channels": {"ops": {"type": "console", "name": "pager", "min_level": "critical"}}}}
    with AlertManager.from_config(config) as manager:
        assert manager.send(AlertMessage("low", level=AlertLevel.WARNING)) == []
        results = manager.send(AlertMessage("high", level=AlertLevel.CRITICAL), channel="pager")
    assert [(r.channel, r.success) for r in results] == [("ops", True)]
    assert "[CRITICAL] high" in capsys.readouterr().err


def test_no_config_means_no_channels() -> None:
    with pytest.warns(NoChannelsWarning, match="no config file given"):
        manager = AlertManager.from_config()
    with manager:
        assert manager.channels == ()


def test_discovered_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KSTALERTS_NO_DISCOVERY")
    monkeypatch.setattr(_settings, "SYSTEM_DIR", str(tmp_path / "etc"))
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kstlib.conf.yml", CONFIG)
    with AlertManager.from_config() as manager:
        assert [e.key for e in manager.channels] == ["ops", "audit", "noisy"]


def test_credentials_resolved_for_the_channel(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK", "https://hooks.example.com/x")
    text = (
        "alerts:\n  channels:\n    hook: {type: strict, credentials: hook}\n"
        "credentials:\n  hook: {type: env, var: HOOK}\n"
    )
    with AlertManager.from_config(write(tmp_path / "c.yml", text)) as manager:
        channel = manager.channels[0].channel
        assert isinstance(channel, StrictChannel) and channel.url == "https://hooks.example.com/x"


def test_a_resolver_passed_in_is_used() -> None:
    class Vault:
        def resolve(self, name: str) -> str:
            return f"https://vault.example.com/{name}"

    config = {"alerts": {"channels": {"hook": {"type": "strict", "credentials": "team"}}}}
    with AlertManager.from_config(config, credential_resolver=Vault()) as manager:
        channel = manager.channels[0].channel
        assert isinstance(channel, StrictChannel) and channel.url == "https://vault.example.com/team"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "alerts:\n  channels:\n    hook:\n      type: strict\n      url: http://plain\n",
            "5: alerts.channels.hook.url: must be an https:// URL",
        ),
        (
            "alerts:\n  channels:\n    hook:\n      type: strict\n      ur: https://x\n",
            "5: alerts.channels.hook.ur: unknown key; did you mean 'url'?",
        ),
        (
            "alerts:\n  channels:\n    hook:\n      type: strict\n      credentials: hoook\n"
            "credentials:\n  hook: {type: env, var: HOOK}\n",
            "5: alerts.channels.hook.credentials: unknown credential 'hoook'; did you mean 'hook'?",
        ),
        (
            "alerts:\n  channels:\n    hook: {type: strict, credentials: hook}\n"
            "credentials:\n  hook:\n    type: env\n    var: UNSET_HOOK\n",
            "7: credentials.hook.var: channel 'hook': credential 'hook': environment variable UNSET_HOOK is not set",
        ),
        (
            "alerts:\n  channels:\n    pigeon:\n      type: pigeon\n",
            "4: alerts.channels.pigeon.type: channel type 'pigeon' is not available in this installation",
        ),
    ],
    ids=["field", "unknown-key", "unknown-credential", "unset-env", "unavailable-type"],
)
def test_errors_name_file_line_and_key(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    channels_module.register_channel("pigeon", "tests.no_such_module:PigeonChannel")  # nothing provides it
    path = write(tmp_path / "kstlib.conf.yml", text)
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(path)
    assert str(info.value) == f"{path}:{message}"


def test_console_stream_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with AlertManager.from_config(
        {"alerts": {"channels": {"c": {"type": "console", "stream": "stdout"}}}}
    ) as m:
        m.send(AlertMessage("to stdout"))
    assert "[INFO] to stdout" in out.getvalue()


# -- channels from the channel branches ----------------------------------------


def test_teams_channel_end_to_end(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, teams_server: Any
) -> None:
    monkeypatch.setenv("TEAMS_URL", teams_server.connector_url)
    text = (
        "alerts:\n"
        "  channels:\n"
        "    timeout: 5\n"
        "    team:\n"
        "      type: teams\n"
        "      credentials: teams_hook\n"
        "      allow_custom_url: true   # the test server is not a Microsoft host\n"
        "      min_level: warning\n"
        "credentials:\n"
        "  teams_hook: {type: env, var: TEAMS_URL}\n"
    )
    with AlertManager.from_config(write(tmp_path / "c.yml", text)) as manager:
        assert manager.send(AlertMessage("ignored")) == []
        [result] = manager.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))
        assert manager.channels[0].channel.timeout == 5.0
    assert result.success, result.error
    assert len(teams_server.requests) == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "      type: teams\n      webhok_url: https://x.webhook.office.com/a\n",
            "5: alerts.channels.team.webhok_url: unknown key; did you mean 'webhook_url'?",
        ),
        (
            "      type: teams\n",
            "3: alerts.channels.team.credentials: teams: needs credentials: or webhook_url:",
        ),
        (
            "      type: pagerduty\n      credentials: nowhere\n",
            "5: alerts.channels.team.credentials: unknown credential 'nowhere':"
            " the config has no 'credentials' section",
        ),
    ],
    ids=["typo", "missing-secret", "unknown-credential"],
)
def test_real_channel_errors_are_located(tmp_path: pathlib.Path, entry: str, message: str) -> None:
    path = write(tmp_path / "c.yml", "alerts:\n  channels:\n    team:\n" + entry)
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(path)
    assert str(info.value) == f"{path}:{message}"


def test_the_shipped_example_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from kstalerts.channels import SlackChannel

    shipped = str(ROOT / "kstlib.conf.yml")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/XXXX")
    with AlertManager.from_config(shipped, preset="dev") as manager:
        [ops] = manager.channels
        assert isinstance(ops.channel, SlackChannel)
        assert (ops.key, ops.min_level) == ("ops", AlertLevel.WARNING)
        assert ops.throttle is not None and (ops.throttle.rate, ops.throttle.burst) == (100, 20)
        assert "XXXX" not in repr(ops.channel)
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(shipped)
    line = (
        ROOT.joinpath("kstlib.conf.yml")
        .read_text()
        .splitlines()
        .index("  slack_webhook: {type: env, var: SLACK_WEBHOOK_URL}")
    )
    assert str(info.value) == (
        f"{shipped}:{line + 1}: credentials.slack_webhook.var: channel 'ops': credential 'slack_webhook': "
        "environment variable SLACK_WEBHOOK_URL is not set"
    )


def test_slack_channel_end_to_end(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, slack_server: Any
) -> None:
    monkeypatch.setenv("HOOK", slack_server.url())
    text = (
        "alerts:\n  channels:\n    ops:\n      type: slack\n      credentials: hook\n"
        "      allow_custom_url: true\n      username: kstalerts-bot\n"
        "credentials:\n  hook: {type: env, var: HOOK}\n"
    )
    with AlertManager.from_config(write(tmp_path / "c.yml", text)) as manager:
        [result] = manager.send(AlertMessage("deploy done"))
    assert result.success, result.error
    assert len(slack_server.requests) == 1


# -- errors from a resolver or a channel's from_config name the channel ---------------------------


class _RaisingResolver:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def resolve(self, name: str) -> str:
        raise self.exc


def test_a_resolver_that_raises_keyerror_is_a_config_error_naming_channel_and_credential() -> None:
    config = {"alerts": {"channels": {"ops": {"type": "strict", "credentials": "hook"}}}}
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(config, credential_resolver=_RaisingResolver(KeyError("SLACK_URL")))
    text = str(info.value)
    assert "channel 'ops'" in text and "credential 'hook'" in text and "KeyError" in text, text


def test_a_valueerror_from_a_channels_from_config_is_a_config_error_naming_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(cls: Any, config: Mapping[str, Any], credential_resolver: Any = None) -> AlertChannel:
        raise ValueError("bad port https://user:hunter2@example.com/hooks/T0KEN123")

    monkeypatch.setattr(StrictChannel, "from_config", classmethod(broken))
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config({"alerts": {"channels": {"ops": {"type": "strict"}}}})
    text = str(info.value)
    assert "alerts.channels.ops" in text and "ValueError: bad port" in text, text
    assert "hunter2" not in text and "T0KEN123" not in text


def test_an_unset_credential_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KST_TEST_UNSET_HOOK", raising=False)
    config = {
        "alerts": {"channels": {"ops": {"type": "strict", "credentials": "hook"}}},
        "credentials": {"hook": {"type": "env", "var": "KST_TEST_UNSET_HOOK"}},
    }
    with pytest.raises(AlertConfigurationError, match="KST_TEST_UNSET_HOOK is not set"):
        AlertManager.from_config(config)


def test_a_manager_without_channels_warns_when_asked_to_send_and_can_be_made_strict() -> None:
    import warnings

    with AlertManager() as manager:
        with pytest.warns(NoChannelsWarning, match="no channels"):
            assert manager.send(AlertMessage("x")) == []
        with warnings.catch_warnings():
            warnings.simplefilter("error", NoChannelsWarning)
            with pytest.raises(NoChannelsWarning):
                manager.send(AlertMessage("x"))


def test_every_limited_setting_is_judged_once_during_from_config(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As dictConfig: the loader judges each value once; the constructors it feeds do not judge it again."""
    import collections

    import kstalerts.limits as limits

    judged: List[Tuple[str, Optional[str]]] = []
    real = limits._to_number

    def spy(name: str, value: object, where: limits.Where) -> float:
        judged.append((name, where.key))
        return real(name, value, where)

    monkeypatch.setattr(limits, "_to_number", spy)
    path = write(
        tmp_path / "kstlib.conf.yml",
        "alerts:\n"
        "  throttle: {rate: 20, per: 30, burst: 5}\n"
        "  spool: {path: spool, max_age: 3600, max_entries: 50, max_bytes: 100000}\n"
        "  dedup: {window: 60}\n"
        "  channels:\n"
        "    timeout: 12\n"
        "    max_retries: 1\n"
        "    a: {type: console, timeout: 5, max_retries: 3, throttle: {rate: 4, burst: 2}}\n"
        "    b: {type: console}\n",
    )
    with AlertManager.from_config(path):
        pass
    config_names = {name for name, key in judged if key is not None}
    assert config_names >= {"throttle.rate", "throttle.per", "throttle.burst", "channels.timeout", "dedup.window"}
    again = [(name, key) for name, key in judged if key is None and name in config_names]
    assert again == []  # no constructor judged a config value a second time
    per_value = collections.Counter(key for _, key in judged if key is not None)
    assert set(per_value.values()) == {1}, per_value
