"""What ``import kstalerts`` costs: standard library only, and none of the heavy parts.

Each check runs in a fresh interpreter started with ``-I -S`` (no user or
site packages on ``sys.path`` at all, no ``PYTHON*`` variables), so a
third-party import would fail outright, and the modules the import adds are
compared with the standard library's list (``sys.stdlib_module_names`` on
3.10+, the standard library's own folders on 3.8 and 3.9). The heavy
modules a channel needs (``ssl``, ``http.client``, ``smtplib``, ``email``,
``asyncio``, ``concurrent.futures``) must wait for that channel.
"""

import json
import pathlib
import subprocess
import sys
from typing import Any, Dict

import pytest

import kstalerts

PACKAGE = kstalerts.__name__
SEARCH_PATH = str(pathlib.Path(kstalerts.__file__).resolve().parent.parent)
HEAVY = ("ssl", "http.client", "smtplib", "email", "asyncio", "concurrent.futures")

_PROBE = r"""
import json, sys
sys.path.insert(0, {path!r})
before = set(sys.modules)
{statement}
new = sorted(set(sys.modules) - before)

def origin(name):
    spec = getattr(sys.modules[name], "__spec__", None)
    return getattr(spec, "origin", None)

if hasattr(sys, "stdlib_module_names"):
    def is_stdlib(name):
        return name.split(".")[0] in sys.stdlib_module_names
else:  # 3.8 / 3.9: a module from the standard library's folders, built in or frozen
    import os, sysconfig
    roots = {{os.path.realpath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib")}}
    def is_stdlib(name):
        where = origin(name)
        if where in (None, "built-in", "frozen"):
            return True
        where = os.path.realpath(where)
        return any(where.startswith(r) for r in roots) and "-packages" not in where

ours = [m for m in new if m == {package!r} or m.startswith({package!r} + ".")]
print(json.dumps({{
    "ours": ours,
    "foreign": [m + " (" + str(origin(m)) + ")" for m in new if m not in ours and not is_stdlib(m)],
    "heavy": sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {heavy!r})),
}}))
"""


def _probe(statement: str) -> Dict[str, Any]:
    code = _PROBE.format(path=SEARCH_PATH, statement=statement, package=PACKAGE, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report: Dict[str, Any] = json.loads(out.stdout)
    return report


STATEMENTS = {
    "package": f"import {PACKAGE}",
    "channels": f"import {PACKAGE}.channels",
    "public names": f"from {PACKAGE} import AlertManager, AlertMessage, AlertLevel, AlertThrottle",
    "in-process channels": f"from {PACKAGE}.channels import CallbackChannel, ConsoleChannel, AlertChannel",
    # every channel class and transport loaded, none used yet: the heavy
    # modules still wait for the first send
    "every channel, unused": f"from {PACKAGE}.channels import *; import {PACKAGE}.transports, {PACKAGE}.net.http",
}


@pytest.mark.parametrize("what", sorted(STATEMENTS))
def test_import_needs_only_the_standard_library(what: str) -> None:
    report = _probe(STATEMENTS[what])
    assert report["foreign"] == []
    assert f"{PACKAGE}._version" in report["ours"]  # the probe did see the package load


@pytest.mark.parametrize("what", sorted(STATEMENTS))
def test_import_loads_no_heavy_module(what: str) -> None:
    assert _probe(STATEMENTS[what])["heavy"] == []


def test_channel_modules_wait_until_a_channel_is_asked_for() -> None:
    report = _probe(f"import {PACKAGE}.channels")
    loaded = {m.split(".", 2)[-1] for m in report["ours"] if m.startswith(f"{PACKAGE}.channels.")}
    assert loaded <= {"base", "callback"}, loaded


def test_the_probe_sees_a_heavy_import() -> None:
    # The checks above would pass vacuously if the probe could not see one.
    heavy = _probe("import smtplib")["heavy"]
    assert "smtplib" in heavy
    assert "email.message" in heavy or "email.utils" in heavy


def test_the_probe_sees_a_module_outside_the_standard_library(tmp_path: pathlib.Path) -> None:
    (tmp_path / "thirdparty_probe_mod.py").write_text("VALUE = 1\n")
    report = _probe(f"sys.path.insert(0, {str(tmp_path)!r}); import thirdparty_probe_mod")
    assert [m.split(" ")[0] for m in report["foreign"]] == ["thirdparty_probe_mod"]


def test_import_kstalerts_runs_four_modules_of_the_package() -> None:
    ours = set(_probe(f"import {PACKAGE}")["ours"])
    expected = {PACKAGE, f"{PACKAGE}._lazy", f"{PACKAGE}._settings", f"{PACKAGE}._version"}
    if sys.version_info < (3, 7):  # module __getattr__ (PEP 562) is 3.7+
        expected.add(f"{PACKAGE}._compat36")
    assert ours == expected


def _first_default_in(folder: pathlib.Path, then: str) -> str:
    # Discovery on, as in a cron job, from ``folder`` as working folder and HOME.
    return (
        f"import os; os.environ.pop('KSTALERTS_NO_DISCOVERY', None); os.environ.pop('KSTALERTS_CONFIG', None);"
        f" os.environ['HOME'] = {str(folder)!r}; os.chdir({str(folder)!r});"
        f" from {PACKAGE} import AlertThrottle; throttle = AlertThrottle(); {then}"
    )


def test_import_kstalerts_loads_no_standard_library_module_a_bare_interpreter_lacks() -> None:
    # Under -I -S not even os is loaded: a module-level "import os" in one of the
    # four modules would load seven (os, posixpath, stat, _collections_abc...).
    code = (
        f"import sys; sys.path.insert(0, {SEARCH_PATH!r}); before = set(sys.modules); import {PACKAGE};"
        f" print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] != {PACKAGE!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], stdout=subprocess.PIPE, universal_newlines=True, timeout=60
    )
    assert out.returncode == 0
    assert out.stdout.strip() == "[]"


def test_finding_no_config_file_loads_no_config_module(tmp_path: pathlib.Path) -> None:
    # The first default searches (kstalerts._settings), finds nothing, and
    # loads no module of the config layer; the built-in rate applies.
    then = f"from {PACKAGE} import _settings; assert _settings.found_none() and throttle.rate == 10"
    ours = set(_probe(_first_default_in(tmp_path, then))["ours"])
    assert f"{PACKAGE}._settings" in ours  # the probe did see the package load
    assert not {m for m in ours if m.startswith(f"{PACKAGE}.config")}


def test_a_config_file_found_on_the_first_default_is_read(tmp_path: pathlib.Path) -> None:
    (tmp_path / "kstlib.conf.yml").write_text("alerts:\n  throttle:\n    rate: 3\n", encoding="utf-8")
    ours = set(_probe(_first_default_in(tmp_path, "assert throttle.rate == 3, throttle.rate"))["ours"])
    assert {f"{PACKAGE}.config.discovery", f"{PACKAGE}.config.loader"} <= ours
    assert not {m for m in ours if m.split(".")[-1] in ("wiring", "credentials")}


@pytest.mark.parametrize("variable", ["KSTALERTS_CONFIG", "KSTALERTS_NO_DISCOVERY"])
def test_the_first_default_honours_the_discovery_variables(tmp_path: pathlib.Path, variable: str) -> None:
    # KSTALERTS_CONFIG names a file outside the searched folders: the config layer
    # reads it. KSTALERTS_NO_DISCOVERY=1 ignores the file in the working folder:
    # the built-in rate, and no config module loads.
    (tmp_path / "kstlib.conf.yml").write_text("alerts:\n  throttle:\n    rate: 3\n", encoding="utf-8")
    named = tmp_path / "elsewhere" / "alerts.yml"
    named.parent.mkdir()
    named.write_text("alerts:\n  throttle:\n    rate: 7\n", encoding="utf-8")
    value = str(named) if variable == "KSTALERTS_CONFIG" else "1"
    expected = 7 if variable == "KSTALERTS_CONFIG" else 10
    statement = _first_default_in(tmp_path, f"assert throttle.rate == {expected}, throttle.rate").replace(
        "from ", f"os.environ[{variable!r}] = {value!r}; from ", 1
    )
    ours = set(_probe(statement)["ours"])
    assert (f"{PACKAGE}.config.loader" in ours) is (variable == "KSTALERTS_CONFIG")


def test_the_config_layer_loaded_later_keeps_the_search_that_found_nothing(tmp_path: pathlib.Path) -> None:
    # A file written after the first default changes nothing until reload_config(),
    # as when the config layer itself searched.
    then = (
        "open('kstlib.conf.yml', 'w').write('alerts:\\n  throttle:\\n    rate: 3\\n');"
        f" from {PACKAGE}.config import active_config, reload_config;"
        " config = active_config(); assert config is not None and config.path is None, config;"
        " assert AlertThrottle().rate == 10;"
        " reload_config(); assert AlertThrottle().rate == 3"
    )
    _probe(_first_default_in(tmp_path, then))


def test_a_deleted_working_folder_is_one_warning_not_an_error(tmp_path: pathlib.Path) -> None:
    # os.getcwd() fails there: the first default still answers (built in), and says why.
    gone = tmp_path / "gone"
    gone.mkdir()
    then = (
        f"os.rmdir({str(gone)!r}); import logging, io; stream = io.StringIO();"
        " logging.basicConfig(stream=stream);"
        f" from {PACKAGE}.channels import SlackChannel;"
        " channel = SlackChannel('https://hooks.slack.com/services/T0/B0/XXXXXXXX');"
        " assert channel.timeout == 30.0, channel.timeout;"
        " assert 'built-in defaults apply' in stream.getvalue(), stream.getvalue()"
    )
    _probe(_first_default_in(gone, then).replace("throttle = AlertThrottle(); ", ""))


def test_a_slack_alert_loads_no_other_channel_nor_what_it_does_not_use() -> None:
    statement = (
        f"from {PACKAGE} import AlertManager, AlertMessage; from {PACKAGE}.channels import SlackChannel;"
        f" AlertManager().add_channel(SlackChannel('https://hooks.slack.com/services/T0/B0/XXXXXXXX'));"
        f" AlertMessage('Disk almost full', 'line one')"
    )
    ours = set(_probe(statement)["ours"])
    assert f"{PACKAGE}.channels.slack" in ours
    unused = ("channels.webhook", "throttle", "spool", "dedup", "_suggest", "config.loader", "logging")
    assert not {m for m in ours if m.split(".", 1)[-1] in unused}


def test_one_slack_alert_sent_from_a_fresh_process_loads_no_threading_contextlib_nor_fault_sorting(slack_server: Any) -> None:
    # A cron job's one alert to one channel runs on the calling thread, and
    # its with-blocks are small classes: importing threading and contextlib
    # would be about a sixth of what kstalerts adds to such a process; the
    # faults are sorted (net/fault.py) only when something failed.
    statement = (
        f"from {PACKAGE} import AlertManager, AlertMessage; from {PACKAGE}.channels import SlackChannel\n"
        f"with AlertManager() as m:\n"
        f"    m.add_channel(SlackChannel({slack_server.url()!r}, allow_custom_url=True, max_retries=0))\n"
        f"    assert m.send(AlertMessage('Disk almost full', 'line one'))[0].success\n"
        f"import sys; loaded = {{'threading', 'contextlib', '{PACKAGE}.net.fault'}} & set(sys.modules)\n"
        f"assert not loaded, loaded"
    )
    _probe(statement)
    assert len(slack_server.requests) == 1
