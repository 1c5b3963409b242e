"""What ``kstalerts send`` loads from a cold process: its own parser, no
``logging`` until there is something to log, and warnings still on stderr."""

import json
import os
import pathlib
import runpy
import subprocess
import sys
from pathlib import Path

import kstalerts
from kstalerts.cli import _plain_send, build_parser
from kstalerts.net.loopback import HTTPSink

SEARCH_PATH = str(pathlib.Path(kstalerts.__file__).resolve().parent.parent)

_PROBE = """
import json, sys
sys.path.insert(0, {path!r})
from kstalerts.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write(json.dumps({{"code": code, "logging": "logging" in sys.modules,
                              "json": "json" in sys.modules}}) + "\\n")
"""


def _cli(tmp_path: Path, probe: str, config_text: str) -> "subprocess.CompletedProcess[str]":
    """``kstalerts send --title t --config FILE`` in a fresh ``-I -S`` interpreter running ``probe``."""
    config = tmp_path / "alerts.yml"
    config.write_text(config_text)
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe.format(path=SEARCH_PATH), "send", "--title", "t",
         "--config", str(config)],
        cwd=str(tmp_path),
        env=dict(os.environ, HOME=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def _send(tmp_path: Path, channel: str) -> "tuple[str, dict[str, object]]":
    proc = _cli(tmp_path, _PROBE, f"alerts:\n  channels:\n    ops: {{{channel}}}\n")
    *warnings, report = proc.stderr.splitlines()
    return "\n".join(warnings), json.loads(report)


def test_send_with_nothing_to_log_loads_no_logging(tmp_path: Path) -> None:
    err, report = _send(tmp_path, "type: console")
    assert report == {"code": 0, "logging": False, "json": report["json"]}
    assert err.split() == ["[CRITICAL]", "t"]  # the console channel's line, and no other


def test_a_clamp_is_said_once_with_its_file_and_line_and_loads_no_logging(tmp_path: Path) -> None:
    err, report = _send(tmp_path, "type: console, max_retries: 9")
    assert report["code"] == 0 and report["logging"] is False
    config = tmp_path / "alerts.yml"
    assert err.splitlines()[0] == (
        f"kstalerts: warning: {config}:3: alerts.channels.ops.max_retries: asked 9, applied 5 (maximum)"
    )
    assert sum("max_retries" in line for line in err.splitlines()) == 1


def test_a_named_subcommand_builds_its_parser_alone() -> None:
    (subparsers,) = [a for a in build_parser("send")._actions if hasattr(a, "choices") and a.choices]
    assert subparsers.choices is not None and list(subparsers.choices) == ["send"]
    (everything,) = [a for a in build_parser()._actions if hasattr(a, "choices") and a.choices]
    assert everything.choices is not None
    assert {"send", "check-config", "flush", "run", "demo"} <= set(everything.choices)


_MODULES_PROBE = """
import json, sys
sys.path.insert(0, {path!r})
from kstalerts.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write(json.dumps({{"code": code, "ours": sorted(m for m in sys.modules if m.startswith("kstalerts"))}}))
"""

#: What a config that configures none of them must not load: each is a stage
#: or a state that only its own section (or a throttle) asks for. One list,
#: the CI import smoke's (.ci/import_smoke.py), which checks a dry run.
UNCONFIGURED = runpy.run_path(str(pathlib.Path(SEARCH_PATH) / ".ci" / "import_smoke.py"))["UNCONFIGURED"]


def test_send_to_one_slack_channel_loads_no_stage_it_does_not_configure(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    proc = _cli(
        tmp_path,
        _MODULES_PROBE,
        f"alerts:\n  channels:\n    ops:\n      type: slack\n      webhook_url: {loopback_http.url}\n"
        "      allow_custom_url: true\n      max_retries: 0\n",
    )
    report = json.loads(proc.stderr.splitlines()[-1])
    assert (proc.stdout, report["code"]) == ("ops: delivered (1 attempt(s))\n", 0)
    assert len(loopback_http.posts) == 1
    ours = set(report["ours"])
    assert "kstalerts.channels.slack" in ours and "kstalerts.config.wiring" in ours  # the probe sees the send path
    assert "kstalerts._suggest" not in ours  # the did-you-mean hints wait for a wrong word
    assert sorted(m for m in ours if any(m == u or m.startswith(u + ".") for u in UNCONFIGURED)) == []
    assert not {m for m in ours if m.startswith("kstalerts.channels.") and m.rsplit(".", 1)[-1] in (
        "webhook", "email", "alertmanager", "discord", "teams")}


# -- a plain send, read without argparse ---------------------------------------

PLAIN = [
    ["send", "--title", "t"],
    ["send", "--title=t"],
    ["send", "--title", ""],
    ["send", "--title", "disk full", "--body", "-", "--level", "warning"],
    ["send", "--level=INFO", "--title", "x", "--json", "--dry-run"],
    ["send", "--title", "a", "--title", "b", "--body=--not-an-option", "-v"],
    ["send", "--verbose", "--title", "t", "--channel", "ops", "--key", "db1-disk"],
    ["send", "--title", "t", "--config", "/etc/kstalerts/kstlib.conf.yml", "--preset", "prod"],
    ["send", "--title", "t", "--body", "line one\nline two", "--level", "success"],
]

ARGPARSE_READS = [
    [],
    ["send"],  # no --title: argparse's error
    ["-v", "send", "--title", "t"],
    ["send", "--title", "t", "--help"],
    ["send", "--tit", "t"],  # an abbreviation argparse accepts
    ["send", "--title", "t", "--label", "host=db1"],
    ["send", "--title", "t", "--level", "loud"],
    ["send", "--title", "t", "--body"],
    ["send", "--title", "t", "--body", "-5"],
    ["send", "--title", "t", "--json=yes"],
    ["send", "--title", "t", "--", "x"],
    ["send", "--title", "t", "extra"],
    ["check-config", "--config", "x"],
]


def test_a_plain_send_reads_as_argparse_reads_it() -> None:
    for argv in PLAIN:
        plain = _plain_send(argv)
        assert plain is not None, argv
        assert vars(plain) == vars(build_parser("send").parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_everything_but_a_plain_send_goes_to_argparse() -> None:
    for argv in ARGPARSE_READS:
        assert _plain_send(argv) is None, argv


_ARGPARSE_PROBE = _PROBE.replace('"json": "json" in sys.modules', '"argparse": "argparse" in sys.modules')


def test_a_plain_send_from_a_cold_process_loads_no_argparse(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = (
        f"alerts:\n  channels:\n    ops: {{type: slack, webhook_url: '{loopback_http.url}', allow_custom_url: true}}\n"
    )
    proc = _cli(tmp_path, _ARGPARSE_PROBE, config)
    report = json.loads(proc.stderr.splitlines()[-1])
    assert (proc.stdout, report["code"], report["argparse"]) == ("ops: delivered (1 attempt(s))\n", 0, False)
    assert len(loopback_http.posts) == 1
