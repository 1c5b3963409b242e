"""kstalerts benchmarks: run them all with ``python benchmarks/run.py``.

Not part of the test suite. Each module measures one claim of the README and
reports medians over repeated rounds; every ratio compares two figures
measured in the same run, interleaved, so a noisy shared machine slows both
sides alike.
"""
