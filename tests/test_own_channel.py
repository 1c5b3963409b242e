"""A user's own channel type: registered from outside the package with
``register_channel`` and built from a config file, as docs/channels.md
("Write your own channel") shows; the page's three blocks run as written."""

import os
import pathlib
import re
import subprocess
import sys
from typing import Any, Dict, Iterator, Tuple

import pytest

from kstalerts import AlertConfigurationError
from kstalerts.channels import CHANNEL_TYPES, AlertChannel, ConsoleChannel, channel_class, register_channel
from kstalerts.net.loopback import HTTPSink

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "channels.md"


def examples() -> Dict[str, str]:
    """File name -> the code block the page marks ``<!-- example: write-your-own-channel NAME -->``."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.findall(r"<!-- example: write-your-own-channel (\S+) -->\n```\w+\n(.*?)```", text, re.S)
    return dict(found)


def python_in(folder: pathlib.Path, *args: str, **env: str) -> "subprocess.CompletedProcess[str]":
    """``python ARGS`` run in ``folder``, outside the package, with this checkout importable."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=str(folder),
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


@pytest.fixture
def sink() -> Iterator[HTTPSink]:
    with HTTPSink() as running:
        yield running


def test_the_documented_channel_is_registered_and_built_from_a_config_file(
    tmp_path: pathlib.Path, sink: HTTPSink
) -> None:
    blocks = examples()
    assert sorted(blocks) == ["kstlib.conf.yml", "mychannel.py", "send.py"]
    for name, code in blocks.items():
        if name == "kstlib.conf.yml":
            code = code.replace("http://127.0.0.1:8080", sink.base_url)
        (tmp_path / name).write_text(code, encoding="utf-8")
    run = python_in(tmp_path, "send.py", GOTIFY_TOKEN="app-token-1234")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "phone: delivered (1 attempt(s))\n"
    [post] = sink.delivered
    assert (post.path, post.payload) == ("/message", {"title": "disk full", "message": "db1: /var at 97%", "priority": 8})
    code = "import mychannel, kstalerts.cli as c; raise SystemExit(c.main(['check-config', '--config', 'kstlib.conf.yml']))"
    check = python_in(tmp_path, "-c", code, GOTIFY_TOKEN="app-token-1234")
    assert check.returncode == 0, check.stderr
    assert "phone" in check.stdout and "gotify" in check.stdout
    assert "app-token-1234" not in check.stdout + check.stderr  # the secret shows nowhere


def test_a_misspelt_key_of_a_registered_type_is_refused_like_a_built_in_one(tmp_path: pathlib.Path) -> None:
    (tmp_path / "mychannel.py").write_text(examples()["mychannel.py"], encoding="utf-8")
    (tmp_path / "kstlib.conf.yml").write_text(
        "alerts:\n  channels:\n    phone:\n      type: gotify\n      url: http://127.0.0.1:1/message\n"
        "      tokn: x\n",
        encoding="utf-8",
    )
    code = "import mychannel\nfrom kstalerts import AlertManager\nAlertManager.from_config('kstlib.conf.yml')\n"
    run = python_in(tmp_path, "-c", code)
    assert "kstlib.conf.yml:6: alerts.channels.phone.tokn: unknown key; did you mean 'token'?" in run.stderr


class _Described(ConsoleChannel):
    kind = "described"


@pytest.fixture
def registry() -> Iterator[None]:
    """Registrations made by a test end with it."""
    import kstalerts.channels as channels

    tables: Tuple[Dict[str, Any], ...] = (CHANNEL_TYPES, channels._types)
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)


@pytest.mark.usefixtures("registry")
def test_register_channel_refuses_what_cannot_work() -> None:
    class Bare(AlertChannel):
        pass

    cases = [
        ("Bad Name", _Described, "a channel type name is lower case letters, digits, '_' and '-' (at most 40)"),
        ("ok", object, "is not an AlertChannel subclass"),
        ("ok", Bare, "Bare cannot be built from config: describe its `options`"),
        ("slack", _Described, "channel type 'slack' is already registered (SlackChannel); choose another name"),
        ("ok", "no_colon", "expected 'package.module:Class'"),
    ]
    for name, cls, message in cases:
        with pytest.raises(AlertConfigurationError) as info:
            register_channel(name, cls)  # type: ignore[arg-type]
        assert message in str(info.value)


@pytest.mark.usefixtures("registry")
def test_a_type_registered_by_module_path_loads_on_first_use() -> None:
    register_channel("later", "tests.test_own_channel:_Described")
    register_channel("later", "tests.test_own_channel:_Described")  # the same again: nothing happens
    assert CHANNEL_TYPES["later"] == "_Described"
    assert channel_class("later") is _Described
    register_channel("missing", "tests.no_such_module:Nothing")
    with pytest.raises(ImportError):
        channel_class("missing")
