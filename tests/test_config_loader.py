"""Loading a config (kstalerts/config/loader.py, schema.py, defaults.py).

Discovery order, the three file formats, presets, precedence (keyword >
preset > file > default, then the hard limits), and the exact text of every
error, which names the file, the line and the key. Discovery tests unset
KSTALERTS_NO_DISCOVERY (which conftest sets) explicitly.
"""

import logging
import os
import pathlib
import subprocess
import sys
from typing import Any, Dict, Iterator

import pytest

from kstalerts import AlertThrottle, _settings
from kstalerts.channels import ConsoleChannel
from kstalerts.config import active_config, get_default, load_config, reload_config, use_config
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.limits import MAX_CONFIG_BYTES

ROOT = pathlib.Path(__file__).resolve().parent.parent

DESIGN_YML = """\
alerts:
  throttle: {rate: 10, per: 60.0, burst: 5}
  channels:
    timeout: 30.0        # defaults for every channel
    max_retries: 2
    ops:                 # any other key is a named channel
      type: console
      credentials: slack_webhook
      min_level: warning
  presets:
    dev:  {throttle: {rate: 100, per: 60.0, burst: 20}}
    prod: {throttle: {rate: 10, per: 60.0, burst: 3}}
credentials:
  slack_webhook: {type: env, var: SLACK_WEBHOOK_URL}
"""
DESIGN_TOML = """\
[alerts.throttle]
rate = 10
per = 60.0
burst = 5

[alerts.channels]
timeout = 30.0
max_retries = 2

[alerts.channels.ops]
type = "console"
credentials = "slack_webhook"
min_level = "warning"

[alerts.presets.dev.throttle]
rate = 100
per = 60.0
burst = 20

[alerts.presets.prod.throttle]
rate = 10
per = 60.0
burst = 3

[credentials.slack_webhook]
type = "env"
var = "SLACK_WEBHOOK_URL"
"""
DESIGN_JSON = """{
  "alerts": {
    "throttle": {"rate": 10, "per": 60.0, "burst": 5},
    "channels": {"timeout": 30.0, "max_retries": 2,
                 "ops": {"type": "console", "credentials": "slack_webhook", "min_level": "warning"}},
    "presets": {"dev": {"throttle": {"rate": 100, "per": 60.0, "burst": 20}},
                "prod": {"throttle": {"rate": 10, "per": 60.0, "burst": 3}}}
  },
  "credentials": {"slack_webhook": {"type": "env", "var": "SLACK_WEBHOOK_URL"}}
}
"""
EXPECTED_ALERTS = {
    "throttle": {"rate": 10.0, "per": 60.0, "burst": 5},
    "channels": {
        "timeout": 30.0,
        "max_retries": 2,
        "ops": {"type": "console", "credentials": "slack_webhook", "min_level": "warning"},
    },
}


@pytest.fixture(autouse=True)
def _fresh_defaults() -> Iterator[None]:
    reload_config()
    yield
    reload_config()


@pytest.fixture
def discovery(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> pathlib.Path:
    """Discovery on, in an empty working directory, with a private /etc."""
    monkeypatch.delenv("KSTALERTS_NO_DISCOVERY")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(_settings, "SYSTEM_DIR", str(tmp_path / "etc"))
    return tmp_path


def write(path: pathlib.Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- formats ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [("kstlib.conf.yml", DESIGN_YML), ("kstlib.conf.toml", DESIGN_TOML), ("kstlib.conf.json", DESIGN_JSON)],
)
def test_three_formats_give_the_same_config(tmp_path: pathlib.Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    config = load_config(path)
    assert config.path == path
    assert config.alerts == EXPECTED_ALERTS
    assert config.credentials == {"slack_webhook": {"type": "env", "var": "SLACK_WEBHOOK_URL"}}
    assert load_config(path, preset="dev").alerts["throttle"] == {"rate": 100.0, "per": 60.0, "burst": 20}


def test_mapping_source_has_no_path() -> None:
    config = load_config({"alerts": {"throttle": {"rate": 3}}})
    assert config.path is None
    assert config.alerts == {"throttle": {"rate": 3.0}}
    assert config.line_of("alerts.throttle.rate") is None


SECTION = {
    "throttle": {"rate": 5, "per": 30},
    "channels": {"ops": {"type": "console", "min_level": "warning"}},
}


@pytest.mark.parametrize(
    "source", [SECTION, {"alerts": SECTION, "logging": {"level": "debug"}}], ids=["section", "document"]
)
def test_a_mapping_is_the_whole_document_or_the_alerts_section(source: Dict[str, Any]) -> None:
    config = load_config(source)
    assert list(config.alerts["channels"]) == ["ops"]
    assert config.alerts["throttle"] == {"rate": 5.0, "per": 30.0}
    assert use_config(source).alerts == config.alerts
    reload_config()


@pytest.mark.parametrize("source", [{}, {"channels": {}}, {"credentials": {}}])
def test_a_mapping_that_declares_no_channel_builds_none(source: Dict[str, Any]) -> None:
    assert load_config(source).alerts.get("channels") in (None, {})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"chanels": {"ops": {"type": "console"}}},
            "chanels: unknown key; did you mean 'channels'? (a config mapping is a whole document with"
            " an 'alerts' section, or the 'alerts' section itself)",
        ),
        (
            {"logging": {}},
            "logging: unknown key; expected one of: alerts, channels, credentials, dedup, inhibit, lifecycle,"
            " presets, spool, throttle (a config mapping is a whole document with an 'alerts' section, or"
            " the 'alerts' section itself)",
        ),
        (
            {"throttle": {"rate": 5}, "chanels": {}},
            "alerts.chanels: unknown key in the alerts section; did you mean 'channels'?",
        ),
        (
            {"channels": {}, "credentials": {}},
            "alerts.credentials: unknown key in the alerts section ('credentials' is a top-level section:"
            " pass the whole document, or a credential_resolver)",
        ),
        (
            {"channels": {"x": {"type": "unknown"}}},
            "alerts.channels.x.type: unknown channel type 'unknown'; expected one of: alertmanager,"
            " console, discord, email, exec, journald, matrix, ntfy, pagerduty, slack, syslog, teams, webhook",
        ),
        (
            {"alerts": {"chanels": {}}},
            "alerts.chanels: unknown key; did you mean 'channels'?",
        ),
    ],
    ids=["typo", "foreign", "typo-in-section", "credentials-in-section", "unknown-type", "typo-in-document"],
)
def test_a_mapping_that_is_neither_names_the_key(source: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        load_config(source)
    assert str(info.value) == message
    with pytest.raises(AlertConfigurationError):
        use_config(source)


def test_a_file_keeps_ignoring_other_sections_but_not_channels_without_alerts(tmp_path: pathlib.Path) -> None:
    other = write(tmp_path / "other.yml", "logging:\n  level: debug\nthrottle:\n  rate: 5\n")
    assert load_config(other).alerts == {}
    flat = write(tmp_path / "flat.yml", "logging:\n  level: debug\nchannels:\n  ops:\n    type: console\n")
    with pytest.raises(AlertConfigurationError) as info:
        load_config(flat)
    assert str(info.value) == (
        f"{flat}:3: channels: the alerts keys go under an 'alerts:' section (this file has none,"
        " so no channel would be built)"
    )


def test_shipped_example_loads() -> None:
    import yaml

    text = (ROOT / "kstlib.conf.yml").read_text(encoding="utf-8")
    assert load_config(yaml.safe_load(text)).alerts == load_config(str(ROOT / "kstlib.conf.yml")).alerts
    config = load_config(str(ROOT / "kstlib.conf.yml"))
    assert config.line_of("alerts.throttle.rate") is not None
    assert "ops" in config.alerts["channels"]


def test_empty_file_means_defaults(tmp_path: pathlib.Path) -> None:
    config = load_config(write(tmp_path / "c.yml", "# nothing yet\n"))
    assert (config.alerts, config.credentials) == ({}, {})


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.json", '{"alerts": {"throttle": }}', "{path}:1:25: Expecting value"),
        ("c.json", '{"alerts": {}, "alerts": {}}', "{path}: alerts: duplicate key 'alerts'"),
        ("c.json", "[" * 100 + "]" * 100, "{path}: nesting deeper than 32 levels"),
        (
            "c.ini",
            "[alerts]\n",
            "{path}: unknown config file type '.ini'; expected .yml, .yaml, .toml or .json",
        ),
        ("c.yml", "- alerts\n", "{path}: the top level must be a mapping with an 'alerts' section, got list"),
        ("c.yml", "alerts: [1]\n", "{path}:1: alerts: must be a mapping, got list"),
    ],
)
def test_file_errors(tmp_path: pathlib.Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(AlertConfigurationError) as info:
        load_config(path)
    assert str(info.value) == message.format(path=path)


def test_toml_syntax_error_has_line_and_column(tmp_path: pathlib.Path) -> None:
    # The wording comes from tomllib/tomli and differs between their versions.
    path = write(tmp_path / "c.toml", "[alerts]\nthrottle = {rate = }\n")
    with pytest.raises(AlertConfigurationError) as info:
        load_config(path)
    assert (info.value.path, info.value.line) == (path, 2)
    assert info.value.column is not None and "(at line" not in str(info.value)


def test_file_read_errors(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "none.yml")
    with pytest.raises(AlertConfigurationError, match=r"none\.yml: config file not found$"):
        load_config(missing)
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(AlertConfigurationError) as info:
        load_config(str(big))
    assert str(info.value) == f"{big}: the file is larger than {MAX_CONFIG_BYTES} bytes"
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"alerts:\n  x: caf\xe9\n")
    with pytest.raises(AlertConfigurationError) as info:
        load_config(str(latin))
    assert str(info.value) == f"{latin}:2: the file is not valid UTF-8"


def test_a_byte_order_mark_is_dropped_once(tmp_path: pathlib.Path) -> None:
    bom = tmp_path / "bom.yml"
    bom.write_bytes(b"\xef\xbb\xbfalerts:\n  throttle: {rate: 7}\n")
    assert load_config(str(bom)).alerts["throttle"]["rate"] == 7
    bad = tmp_path / "bom-latin.yml"
    bad.write_bytes(b"\xef\xbb\xbfalerts:\n  x: caf\xe9\n")
    with pytest.raises(AlertConfigurationError) as info:
        load_config(str(bad))
    assert str(info.value) == f"{bad}:2: the file is not valid UTF-8"


def test_toml_without_tomllib_or_tomli(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A None entry in sys.modules makes `import` raise ImportError, exactly as
    when neither tomllib (3.11+) nor tomli is installed."""
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    path = write(tmp_path / "c.toml", DESIGN_TOML)
    with pytest.raises(AlertConfigurationError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: reading a .toml config needs Python 3.11+ or the 'tomli' package"
        " (pip install 'kstalerts[toml]')"
    )


# -- discovery ---------------------------------------------------------------


def test_discovery_order(discovery: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = pathlib.Path(os.environ["HOME"])
    etc = write(discovery / "etc" / "kstlib.conf.json", '{"alerts": {"throttle": {"rate": 1}}}')
    assert load_config().path == etc
    user = write(home / ".config" / "kstalerts" / "kstlib.conf.toml", "[alerts.throttle]\nrate = 2\n")
    assert load_config().path == user
    cwd_toml = write(discovery / "work" / "kstlib.conf.toml", "[alerts.throttle]\nrate = 3\n")
    assert load_config().path == cwd_toml
    cwd_yml = write(discovery / "work" / "kstlib.conf.yml", "alerts: {throttle: {rate: 4}}\n")
    assert load_config().path == cwd_yml  # .yml comes before .toml in one directory
    named = write(discovery / "named.yml", "alerts: {throttle: {rate: 5}}\n")
    monkeypatch.setenv("KSTALERTS_CONFIG", named)
    assert load_config().path == named
    explicit = write(discovery / "explicit.yml", "alerts: {throttle: {rate: 6}}\n")
    assert load_config(explicit).alerts["throttle"]["rate"] == 6.0


def test_no_file_found_means_builtin_defaults(discovery: pathlib.Path) -> None:
    config = load_config()
    assert (config.path, config.alerts) == (None, {})


def test_no_discovery_variable(discovery: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(discovery / "work" / "kstlib.conf.yml", "alerts: {throttle: {rate: 4}}\n")
    monkeypatch.setenv("KSTALERTS_NO_DISCOVERY", "1")
    assert load_config().path is None


def test_config_variable_naming_a_missing_file(
    discovery: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSTALERTS_CONFIG", str(discovery / "gone.yml"))
    with pytest.raises(AlertConfigurationError) as info:
        load_config()
    assert str(info.value) == f"{discovery / 'gone.yml'}: KSTALERTS_CONFIG names a file that does not exist"


def test_defaults_come_from_the_discovered_file(discovery: pathlib.Path) -> None:
    path = write(
        discovery / "work" / "kstlib.conf.yml",
        "alerts:\n  throttle: {rate: 7, per: 30}\n  channels: {timeout: 12.5, max_retries: 4}\n",
    )
    throttle = AlertThrottle()
    assert (throttle.rate, throttle.per, throttle.burst) == (7.0, 30.0, 7)
    channel = ConsoleChannel()
    assert (channel.timeout, channel.max_retries) == (12.5, 4)
    config = active_config()
    assert config is not None and config.path == path
    # Cached: a change on disk is seen only after reload_config().
    write(discovery / "work" / "kstlib.conf.yml", "alerts: {throttle: {rate: 8}}\n")
    assert get_default("throttle.rate") == 7.0
    reload_config()
    assert get_default("throttle.rate") == 8.0
    assert get_default("throttle.per") == 60.0  # not in the file: built-in


def test_preset_variable_applies_to_discovered_defaults(
    discovery: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(discovery / "work" / "kstlib.conf.yml", DESIGN_YML)
    monkeypatch.setenv("KSTALERTS_PRESET", "dev")
    assert AlertThrottle().rate == 100.0
    config = active_config()
    assert config is not None and config.preset == "dev"


def test_defaults_without_discovery_are_builtin() -> None:
    assert active_config() is None
    assert (get_default("throttle.rate"), get_default("channels.timeout")) == (10, 30.0)


def test_broken_discovered_file_is_one_warning_on_first_use(
    discovery: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(discovery / "work" / "kstlib.conf.yml", "alerts:\n  throttle: {rate: fast}\n")
    with caplog.at_level(logging.WARNING, logger="kstalerts.config"):
        throttle = AlertThrottle()
        channel = ConsoleChannel()
    assert (throttle.rate, channel.timeout) == (10.0, 30.0)
    assert [r.getMessage() for r in caplog.records if r.name == "kstalerts.config"] == [
        f"{path}:2: alerts.throttle.rate: must be a number, got 'fast'"
        " (the built-in defaults apply; check-config reports this file)"
    ]
    assert active_config() is None
    with pytest.raises(AlertConfigurationError) as info:
        load_config()
    assert str(info.value) == f"{path}:2: alerts.throttle.rate: must be a number, got 'fast'"


def test_import_reads_no_file_and_loads_no_parser(tmp_path: pathlib.Path) -> None:
    broken = write(tmp_path / "kstlib.conf.yml", "alerts: [unclosed\n")
    env = {k: v for k, v in os.environ.items() if k != "KSTALERTS_NO_DISCOVERY"}
    env["KSTALERTS_CONFIG"] = broken
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "import sys, kstalerts\n"
        "loaded = [m for m in ('kstalerts.config.loader', 'kstalerts.config.yaml', 'json', 'subprocess')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
        "print(kstalerts.AlertThrottle().rate)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    assert out.stdout.splitlines() == ["[]", "10.0"]
    assert f"{broken}:1:9: alerts: unclosed '['" in out.stderr


# -- presets and precedence --------------------------------------------------


def test_preset_wins_over_base_section(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path / "c.yml",
        "alerts:\n"
        "  throttle: {rate: 10, per: 60.0, burst: 5}\n"
        "  channels:\n"
        "    timeout: 30\n"
        "    ops: {type: console, min_level: info}\n"
        "  presets:\n"
        "    prod:\n"
        "      throttle: {burst: 2}\n"
        "      channels:\n"
        "        timeout: 10\n"
        "        ops: {min_level: critical}\n",
    )
    base = load_config(path)
    prod = load_config(path, preset="prod")
    assert base.alerts["throttle"] == {"rate": 10.0, "per": 60.0, "burst": 5}
    assert prod.alerts["throttle"] == {"rate": 10.0, "per": 60.0, "burst": 2}  # deep merge keeps rate/per
    assert prod.alerts["channels"] == {"timeout": 10.0, "ops": {"type": "console", "min_level": "critical"}}
    assert prod.line_of("alerts.throttle.burst") == 8  # the preset's line
    assert prod.line_of("alerts.throttle.rate") == 2  # the base's line
    assert prod.origin_of("alerts.channels.ops.min_level") == "alerts.presets.prod.channels.ops.min_level"


def test_preset_variable(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "c.yml", DESIGN_YML)
    monkeypatch.setenv("KSTALERTS_PRESET", "prod")
    assert load_config(path).alerts["throttle"]["burst"] == 3
    assert load_config(path, preset="dev").alerts["throttle"]["burst"] == 20  # keyword beats variable
    # A config without presets ignores the variable (it may be meant for another file).
    assert load_config({"alerts": {"throttle": {"rate": 4}}}).preset is None


def test_unknown_preset_names_the_known_ones(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "c.yml", DESIGN_YML)
    with pytest.raises(AlertConfigurationError) as info:
        load_config(path, preset="staging")
    assert str(info.value) == f"{path}:10: alerts.presets: unknown preset 'staging'; known presets: dev, prod"
    with pytest.raises(AlertConfigurationError) as info:
        load_config({"alerts": {}}, preset="dev")
    assert str(info.value) == "alerts.presets: unknown preset 'dev'; known presets: (none defined)"


def test_keyword_above_limit_is_clamped_whatever_config_and_preset_say(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path / "c.yml",
        "alerts:\n  throttle: {rate: 10, burst: 5}\n"
        "  presets:\n    dev: {throttle: {rate: 100, burst: 50}}\n",
    )
    use_config(path, preset="dev")
    assert AlertThrottle().rate == 100.0  # preset over file
    assert AlertThrottle(rate=50).rate == 50.0  # keyword over preset
    with caplog.at_level(logging.WARNING, logger="kstalerts.limits"):
        throttle = AlertThrottle(rate=5000, burst=9999)
    assert (throttle.rate, throttle.burst) == (1000.0, 1000)
    assert [r.getMessage() for r in caplog.records] == [
        "throttle.rate: asked 5000, applied 1000.0 (the maximum)",
        "throttle.burst: asked 9999, applied 1000 (the maximum)",
    ]
    assert ConsoleChannel(timeout=500).timeout == 120.0


def test_file_values_beyond_limits_are_clamped_naming_file_line_key(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path / "c.yml",
        "alerts:\n"
        "  throttle: {rate: 5000, burst: 2}\n"
        "  channels:\n"
        "    timeout: 0.1\n"
        "    ops:\n"
        "      type: console\n"
        "      max_retries: 9\n"
        "  presets:\n"
        "    big:\n"
        "      throttle: {per: 1000000}\n",
    )
    with caplog.at_level(logging.WARNING, logger="kstalerts.limits"):
        config = load_config(path, preset="big")
    assert config.alerts["throttle"] == {"rate": 1000.0, "burst": 2, "per": 86400.0}
    assert config.alerts["channels"]["timeout"] == 1.0
    assert config.alerts["channels"]["ops"]["max_retries"] == 5
    assert [r.getMessage() for r in caplog.records] == [
        "alerts.throttle.rate: asked 5000, applied 1000.0 (the maximum)",
        "alerts.presets.big.throttle.per: asked 1000000, applied 86400.0 (the maximum)",
        "alerts.channels.timeout: asked 0.1, applied 1.0 (the minimum)",
        "alerts.channels.ops.max_retries: asked 9, applied 5 (the maximum)",
    ]


# -- every error names file, line and key --------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alerts:\n  throtle: {}\n", "2: alerts.throtle: unknown key; did you mean 'throttle'?"),
        ("alerts:\n  throttle: {rte: 5}\n", "2: alerts.throttle.rte: unknown key; did you mean 'rate'?"),
        (
            "alerts:\n  channels:\n    ops:\n      type: slak\n",
            "4: alerts.channels.ops.type: unknown channel type 'slak'; did you mean 'slack'?",
        ),
        (
            "alerts:\n  channels:\n    ops: {min_level: info}\n",
            "3: alerts.channels.ops: a channel needs a 'type'",
        ),
        (
            "alerts:\n  channels:\n    timeuot: 5\n",
            "3: alerts.channels.timeuot: must be a mapping with a 'type' (a channel), got int;"
            " did you mean 'timeout'?",
        ),
        (
            "alerts:\n  channels:\n    ops:\n      type: console\n      min_level: loud\n",
            "5: alerts.channels.ops.min_level: unknown alert level 'loud';"
            " expected one of: info, success, warning, critical",
        ),
        (
            "alerts:\n  channels:\n    ops:\n      type: console\n      throttle: {burts: 1}\n",
            "5: alerts.channels.ops.throttle.burts: unknown key; did you mean 'burst'?",
        ),
        (
            "alerts:\n  channels:\n    ops: {type: console, throttle: yes}\n",
            "3: alerts.channels.ops.throttle: must be a mapping (or false for no throttle), got bool",
        ),
        (
            "alerts:\n  channels:\n    ops: {type: console, spool_throttled: maybe}\n",
            "3: alerts.channels.ops.spool_throttled: must be true or false",
        ),
        (
            "alerts:\n  channels:\n    ops: {type: console, name: 5}\n",
            "3: alerts.channels.ops.name: must be text, got int",
        ),
        ("alerts:\n  spool: {max_ag: 5}\n", "2: alerts.spool.max_ag: unknown key; did you mean 'max_age'?"),
        ("alerts:\n  dedup: {windows: 5}\n", "2: alerts.dedup.windows: unknown key; did you mean 'window'?"),
        ("alerts:\n  throttle:\n    rate: ten\n", "3: alerts.throttle.rate: must be a number, got 'ten'"),
        (
            "alerts:\n  throttle:\n    rate: .nan\n",
            "3: alerts.throttle.rate: must be a number, not NaN, got nan",
        ),
        (
            "alerts:\n  throttle:\n    burst: 2.5\n",
            "3: alerts.throttle.burst: must be a whole number, got 2.5",
        ),
        (
            "alerts:\n  channels:\n    ops:\n      type: console\n      timeout: off\n",
            "5: alerts.channels.ops.timeout: must be a number, got False",
        ),
        (
            "alerts:\n  presets:\n    dev:\n      throttle: {rate: 5}\n      presets: {}\n",
            "5: alerts.presets.dev.presets: unknown key; expected one of: channels, dedup, inhibit,"
            " lifecycle, spool, throttle",
        ),
        (
            "alerts:\n  presets:\n    dev:\n      channels:\n        pager: {min_level: critical}\n",
            "5: alerts.presets.dev.channels.pager: a channel needs a 'type'"
            " (a preset may only change channels the base section defines)",
        ),
        (
            "alerts:\n  presets:\n    dev:\n      throttle: {rate: many}\n",
            "4: alerts.presets.dev.throttle.rate: must be a number, got 'many'",
        ),
        (
            "credentials:\n  hook: {type: environ, var: X}\n",
            "2: credentials.hook.type: unknown credential type 'environ'; did you mean 'env'?",
        ),
        (
            "credentials:\n  hook:\n    type: env\n    name: X\n",
            "4: credentials.hook.name: unknown key; expected one of: type, var",
        ),
        (
            "credentials:\n  hook:\n    type: file\n",
            "2: credentials.hook.path: a file credential needs 'path' (text)",
        ),
    ],
)
def test_error_names_file_line_and_key(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = write(tmp_path / "kstlib.conf.yml", text)
    with pytest.raises(AlertConfigurationError) as info:
        load_config(path, preset="dev" if "rate: many" in text else None)  # limits judge the chosen preset
    assert str(info.value) == f"{path}:{message}"


def test_masked_hides_secret_fields() -> None:
    config = load_config(
        {
            "alerts": {"throttle": {"rate": 5}},
            "credentials": {"s": {"type": "env", "var": "S"}},
            "other_tool": {
                "hook": {"webhook_url": "https://hooks.example.com/services/T1/B2/XYZ"},
                "mail": [{"password": "hunter2", "user": "me"}],
            },
        }
    )
    masked = config.masked()
    assert masked["other_tool"] == {
        "hook": {"webhook_url": "https://hooks.example.com/***"},
        "mail": [{"password": "***", "user": "me"}],
    }
    assert masked["alerts"] == {"throttle": {"rate": 5.0}}
    assert masked["credentials"] == {"s": {"type": "env", "var": "S"}}
    assert "hunter2" not in repr(masked) and "XYZ" not in repr(masked)


def test_the_loader_limits_spool_and_dedup_numbers_in_its_one_pass(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path / "c.yml",
        "alerts:\n  spool:\n    path: sp\n    max_age: 5\n  dedup:\n    window: 9999999\n",
    )
    with caplog.at_level(logging.WARNING, logger="kstalerts.limits"):
        config = load_config(path)  # no manager built: the loader alone limits every number
    assert config.alerts["spool"]["max_age"] == 60.0
    assert config.alerts["dedup"]["window"] == 604800.0
    assert [r.getMessage() for r in caplog.records] == [
        "alerts.spool.max_age: asked 5, applied 60.0 (the minimum)",
        "alerts.dedup.window: asked 9999999, applied 604800.0 (the maximum)",
    ]
    with pytest.raises(AlertConfigurationError) as info:
        load_config(write(tmp_path / "d.yml", "alerts:\n  dedup:\n    window: soon\n"))
    assert str(info.value).startswith(f"{tmp_path / 'd.yml'}:3: alerts.dedup.window: ")
