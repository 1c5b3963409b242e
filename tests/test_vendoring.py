"""kstalerts still works when copied into another project under another name.

The package folder is copied to ``<tmp>/myapp/_vendor/alerts`` and used from
a fresh interpreter started with ``-I -S``: no site-packages, no
``PYTHONPATH``, not even the current directory on ``sys.path``, so the only
copy it can find is the vendored one; the test first proves that
``import kstalerts`` fails there. Then the vendored copy sends an alert through an
in-process channel, over SMTP and to a Slack webhook, both loopback sinks
in this process (the ``smtp_server`` and ``slack_server`` fixtures), and
the sinks check what they received. The send runs on this Python and on
Python 3.6, the oldest supported (found by path; missing, it skips, or
fails under ``CI=true``).
"""

import ast
import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any, Callable, List

import pytest

import kstalerts
from tests.compat import python36

PACKAGE = kstalerts.__name__
SOURCE = pathlib.Path(kstalerts.__file__).resolve().parent
VENDORED = "myapp._vendor.alerts"


@pytest.fixture
def vendored(tmp_path: pathlib.Path) -> pathlib.Path:
    """A project tree with the package vendored as myapp/_vendor/alerts; returns its root."""
    vendor = tmp_path / "myapp" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text('"""An application that vendors its alerting."""\n')
    (vendor / "__init__.py").write_text("")
    shutil.copytree(SOURCE, vendor / "alerts", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def _isolated(
    root: pathlib.Path, code: str, *args: str, python: str = sys.executable
) -> "subprocess.CompletedProcess[str]":
    prelude = f"import sys\nsys.path.insert(0, {str(root)!r})\n"
    return subprocess.run(
        [python, "-I", "-S", "-c", prelude + code, *args],
        cwd=str(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def test_the_original_package_is_not_importable_there(vendored: pathlib.Path) -> None:
    out = _isolated(
        vendored,
        f"try:\n    import {PACKAGE}\nexcept ModuleNotFoundError as exc:\n    print('missing', exc.name)\n"
        f"else:\n    print('found', {PACKAGE}.__file__)\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"missing {PACKAGE}"


_SEND = """
import json
import platform
from myapp._vendor.alerts import AlertLevel, AlertManager, AlertMessage, __version__
from myapp._vendor.alerts.channels import CallbackChannel, ConsoleChannel, EmailChannel, SlackChannel
from myapp._vendor.alerts.transports import SMTPTransport

smtp_port, slack_url = int(sys.argv[1]), sys.argv[2]
received = []
with AlertManager() as manager:
    manager.add_channel(CallbackChannel(received.append, name="sink"))
    manager.add_channel(ConsoleChannel(sys.stdout), min_level=AlertLevel.WARNING)
    manager.add_channel(
        EmailChannel(
            SMTPTransport("127.0.0.1", smtp_port, security="none", timeout=10),
            sender="alerts@myapp.example",
            recipients=["ops@myapp.example"],
            max_retries=0,
        )
    )
    manager.add_channel(SlackChannel(slack_url, allow_custom_url=True, proxy="", max_retries=0))
    results = manager.send(AlertMessage("vendored alert", "sent from myapp", AlertLevel.CRITICAL))
    stats = manager.stats
print(json.dumps({
    "results": [[r.channel, r.success, r.error] for r in results],
    "received": [[a.title, a.body, a.level.name] for a in received],
    "sent": stats.total_sent,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("kstalerts", "myapp", "smtplib")),
    "version": __version__,
    "python": platform.python_version(),
}))
"""


@pytest.mark.parametrize("version", ["this", "3.6"])
def test_the_vendored_copy_sends_an_alert(
    version: str, vendored: pathlib.Path, smtp_server: Callable[..., Any], slack_server: Any
) -> None:
    python = sys.executable if version == "this" else python36()
    server = smtp_server()
    out = _isolated(vendored, _SEND, str(server.port), slack_server.url(), python=python)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    report, console = json.loads(lines[-1]), "\n".join(lines[:-1])
    assert report["results"] == [
        ["sink", True, None],
        ["console", True, None],
        ["email", True, None],
        ["slack", True, None],
    ]
    assert report["received"] == [["vendored alert", "sent from myapp", "CRITICAL"]]
    assert report["sent"] == 4
    assert "vendored alert" in console and "sent from myapp" in console
    assert report["version"] == kstalerts.__version__
    assert version == "this" or report["python"].startswith("3.6."), report["python"]
    # the sink, on this side, got the mail the vendored copy sent
    assert [(m[0], m[1]) for m in server.handler.messages] == [
        ("alerts@myapp.example", ["ops@myapp.example"])
    ]
    mail = server.handler.parsed(0)
    assert "vendored alert" in mail["Subject"] and "CRITICAL" in mail["Subject"]
    assert "sent from myapp" in mail.get_body(("plain",)).get_content()
    [post] = slack_server.requests
    assert post.method == "POST" and "vendored alert" in json.dumps(post.json())
    # only the vendored copy was ever loaded, and its channels loaded on first use
    assert [m for m in report["modules"] if m.split(".")[0] == PACKAGE] == []
    assert f"{VENDORED}.channels.email" in report["modules"]
    assert f"{VENDORED}.transports.smtp" in report["modules"]
    assert f"{VENDORED}.channels.slack" in report["modules"]
    assert f"{VENDORED}.net.http" in report["modules"]


def test_the_vendored_command_line_runs(vendored: pathlib.Path) -> None:
    out = _isolated(
        vendored,
        "import runpy\nsys.argv = ['alerts', '--version']\n"
        f"runpy.run_module({VENDORED!r}, run_name='__main__', alter_sys=True)\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"kstalerts {kstalerts.__version__}"


def test_the_vendored_demo_runs(vendored: pathlib.Path) -> None:
    # the demo starts the package's own loopback sinks: every module it
    # touches must resolve under the vendored name
    out = _isolated(
        vendored,
        "import runpy\nsys.argv = ['alerts', 'demo']\n"
        "code = 0\n"
        f"try:\n    runpy.run_module({VENDORED!r}, run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"print('original loaded:', [m for m in sys.modules if m.split('.')[0] == {PACKAGE!r}])\n"
        "sys.exit(code)\n",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed 0" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "original loaded: []"


def _absolute_self_imports(path: pathlib.Path) -> List[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: List[str]
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(SOURCE)}:{node.lineno} {n}" for n in names if n.split(".")[0] == PACKAGE
        ]
    return found


def test_no_module_imports_the_package_by_its_name() -> None:
    offenders = [hit for path in sorted(SOURCE.rglob("*.py")) for hit in _absolute_self_imports(path)]
    assert offenders == []
