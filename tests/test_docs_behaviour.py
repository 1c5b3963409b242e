"""What the docs say is what the code does: the four mismatches of issue 27, item 10."""

import io
import pathlib
import subprocess
import sys

from kstalerts import AlertLevel
from kstalerts.channels import SlackChannel
from kstalerts.demo import run_demo

ROOT = pathlib.Path(__file__).resolve().parent.parent


def doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_the_demo_throttle_is_what_cli_md_says_and_explains_the_critical_reserve() -> None:
    """Was: cli.md said "3 per minute"; the demo printed 2 per 60 s and delivered 4, unexplained."""
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "throttled to 2 per 60 s" in text and "throttled to 2 per 60 s" in doc("cli.md")
    assert "CRITICAL alerts draw from a reserve of their own" in text
    assert "the Slack sink received 4 post(s)" in text and "Slack receives 4" in doc("cli.md")


def test_the_masked_webhook_in_troubleshooting_is_the_real_mask() -> None:
    """Was: troubleshooting.md showed …/services/T***/B***/***."""
    shown = repr(SlackChannel("https://hooks.slack.com/services/T0123/B0456/secretsecret"))
    assert "webhook_url='https://hooks.slack.com/***'" in shown
    assert "`https://hooks.slack.com/***`" in doc("troubleshooting.md")
    assert "T***" not in doc("troubleshooting.md")


def test_cli_md_lists_every_level() -> None:
    """Was: cli.md's --level list lacked success."""
    row = next(line for line in doc("cli.md").splitlines() if line.startswith("| `--level L`"))
    for level in AlertLevel:
        assert f"`{level.name.lower()}`" in row


def test_send_names_the_file_and_line_of_a_clamped_value(tmp_path: pathlib.Path) -> None:
    """Was: config.md said clamp warnings name file and line; send printed neither."""
    config = tmp_path / "kstlib.conf.yml"
    config.write_text("alerts:\n  throttle: {rate: 5000, per: 60}\n  channels:\n    out:\n      type: console\n")
    done = subprocess.run(
        [sys.executable, "-m", "kstalerts", "send", "--title", "x", "--config", str(config)],
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    line = f"kstalerts: warning: {config}:2: alerts.throttle.rate: asked 5000, applied 1000.0 (maximum)"
    assert done.stderr.splitlines().count(line) == 1, done.stderr
    assert "kstlib.conf.yml:2: alerts.throttle.rate: asked" in doc("config.md").replace("\n", " ")
