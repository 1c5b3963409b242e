"""What a test does when a real server it needs cannot be started.

On a developer's machine it is skipped, with the reason printed. In CI
(``CI=true``) ``.ci/run`` installs every server the tests use, so a missing
one is a broken install step: the test fails instead of hiding it.
"""

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason`` printed, or fail under CI."""
    print("SKIP reason:", reason)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (under CI=true a missing server is a failure, not a skip)")
    pytest.skip(reason)
