"""``kstalerts completion bash|zsh`` and ``kstalerts man``: generated from the
CLI's own parser, so every command and option is in them; bash runs the
completion for real, groff renders the page when it is installed.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from kstalerts.cli import build_parser
from kstalerts.commands.shell import _commands, _options, bash_completion, man_page, zsh_completion
from tests.servers._require import unavailable

ROOT = Path(__file__).resolve().parent.parent


def kstalerts(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kstalerts", *args], cwd=str(ROOT), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def complete(script: Path, *words: str) -> List[str]:
    """What bash's completion offers for ``words`` (the last one being typed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    code = (
        f"source '{script}'\nCOMP_WORDS=({quoted})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
        "_kstalerts\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "-c", code], stdout=subprocess.PIPE, universal_newlines=True, timeout=30)
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "kstalerts.bash"
    path.write_text(kstalerts("completion", "bash"))
    return path


def test_bash_completes_commands_options_and_choices(bash_script: Path) -> None:
    commands = list(_commands(build_parser()))
    assert complete(bash_script, "kstalerts", "")[: len(commands)] == commands
    assert complete(bash_script, "kstalerts", "unit") == ["unit-failed"]
    assert complete(bash_script, "kstalerts", "send", "--le") == ["--level"]
    assert complete(bash_script, "kstalerts", "send", "--level", "") == ["info", "success", "warning", "critical"]
    assert complete(bash_script, "kstalerts", "run", "--on-overlap", "") == ["skip", "wait"]
    assert complete(bash_script, "kstalerts", "completion", "z") == ["zsh"]
    assert complete(bash_script, "kstalerts", "run", "--", "") == []  # the job's own words: bash's default


def test_every_option_of_every_command_is_in_each_output() -> None:
    parser = build_parser()
    bash, zsh, man = bash_completion(parser), zsh_completion(parser), man_page(parser)
    for name, (_, sub) in _commands(parser).items():
        assert f"        {name})" in bash and f"        {name})" in zsh and f".SS kstalerts {name}" in man.replace("\\-", "-")
        for action in _options(sub):
            for option in action.option_strings:
                assert option in bash, (name, option)
                assert f"'{option}[" in zsh, (name, option)
                assert option.replace("-", "\\-") in man or action.dest == "help", (name, option)


def test_outputs_are_reproducible() -> None:
    assert kstalerts("man") == kstalerts("man")
    assert bash_completion(build_parser()) == bash_completion(build_parser())


def test_the_zsh_script_parses_when_zsh_is_here(tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        unavailable("zsh is not installed (apt-get install zsh; .ci/run does)")
    path = tmp_path / "_kstalerts"
    path.write_text(kstalerts("completion", "zsh"))
    done = subprocess.run([zsh, "-n", str(path)], stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_the_man_page_renders_without_warnings(tmp_path: Path) -> None:
    groff = shutil.which("groff")
    if groff is None:
        unavailable("groff is not installed (apt-get install groff-base; .ci/run does)")
    page = tmp_path / "kstalerts.1"
    page.write_text(kstalerts("man"))
    done = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(page)], stderr=subprocess.PIPE, universal_newlines=True, timeout=30
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert page.read_text().startswith('.TH KSTALERTS 1 "" "kstalerts ')
