"""How much work the long tests do.

The default counts keep the README's ``pytest -n 4`` near a minute on two
cores while each test still proves its point (a chaos run with 200 SIGKILLs,
100 generated YAML documents, 3 trials of 50 processes, 300 long titles
against a state-file cap a quarter of the real one). ``KSTALERTS_FULL_TESTS=1``
runs the counts the issues measured (1,000 SIGKILLs, 250 documents, 5 trials,
1,200 titles against the real cap); CI runs the tests marked ``slow`` that way
in a step of their own (.ci/run).
"""

import os

FULL = os.environ.get("KSTALERTS_FULL_TESTS", "") == "1"


def scale(default: int, full: int) -> int:
    """``full`` under ``KSTALERTS_FULL_TESTS=1``, else ``default``."""
    return full if FULL else default
