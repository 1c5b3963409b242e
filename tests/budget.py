"""How much work the long tests do.

The default counts keep the README's ``pytest -n 4`` near a minute on two
cores while each test still proves its point (a chaos run with a couple of
hundred SIGKILLs, a hundred generated YAML documents). ``KSTALERTS_FULL_TESTS=1``
runs the counts the issues measured (1,000 SIGKILLs, 250 documents); CI runs
the tests marked ``slow`` that way in a step of their own (.ci/run).
"""

import os

FULL = os.environ.get("KSTALERTS_FULL_TESTS", "") == "1"


def scale(default: int, full: int) -> int:
    """``full`` under ``KSTALERTS_FULL_TESTS=1``, else ``default``."""
    return full if FULL else default
