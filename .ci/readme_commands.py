"""Print one of the README's newcomer commands, exactly as written.

The README marks them with ``<!-- command:demo -->`` and
``<!-- command:test -->`` before a fenced shell block; CI and the tests run
what this prints, so the README can never drift from what is checked.
"""

import pathlib
import re
import sys


def command(name: str, readme: pathlib.Path) -> str:
    text = readme.read_text(encoding="utf-8")
    marker = re.escape(f"<!-- command:{name} -->")
    match = re.search(marker + r"\s*```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    if match is None:
        raise SystemExit(f"README has no <!-- command:{name} --> block")
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    return " && ".join(lines)


if __name__ == "__main__":
    root = pathlib.Path(__file__).resolve().parent.parent
    print(command(sys.argv[1], root / "README.md"))
