"""Run every kstalerts benchmark: ``python benchmarks/run.py [--quick] [--json PATH]``.

Prints one table and writes the results, with the machine they ran on, to
``benchmarks/results/latest.json`` (and to ``--json PATH`` if given).
``--only NAME`` runs some benchmarks; ``--markdown PATH`` also writes the
table as Markdown, and ``--update-doc PATH`` puts it between the
``<!-- bench:table -->`` and ``<!-- /bench:table -->`` lines of that file
(docs/benchmarks.md). ``--quick`` runs few rounds: a smoke test that
everything still works, not a measurement; it writes ``quick.json``.
"""

import argparse
import os
import sys
import time
import traceback
from typing import List, Optional

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import (
    bench_channels_local,
    bench_coldstart,
    bench_dedup,
    bench_email,
    bench_fanout,
    bench_fleet,
    bench_import,
    bench_instructions,
    bench_lifecycle,
    bench_memory,
    bench_run,
    bench_slack,
    bench_text,
    bench_throttle,
)
from benchmarks._harness import (
    ROOT,
    Result,
    dump_json,
    format_markdown,
    format_table,
    machine_info,
)

MODULES = (
    bench_import,
    bench_coldstart,
    bench_instructions,
    bench_slack,
    bench_channels_local,
    bench_email,
    bench_fanout,
    bench_throttle,
    bench_dedup,
    bench_memory,
    bench_run,
    bench_fleet,
    bench_text,
    bench_lifecycle,
)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="few rounds: check it runs, do not trust figures"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the JSON results here")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown here")
    parser.add_argument(
        "--update-doc", metavar="PATH", help="replace the table between the bench:table markers"
    )
    parser.add_argument(
        "--only", action="append", choices=[m.NAME for m in MODULES], help="run only this benchmark"
    )
    args = parser.parse_args(argv)

    machine = machine_info()
    print(
        f"kstalerts benchmarks{' (quick)' if args.quick else ''}: Python {machine['python']}, "
        f"{machine['cpu']}, {machine['nproc']} CPUs",
        flush=True,
    )
    results: List[Result] = []
    failed = []
    for module in MODULES:
        if args.only and module.NAME not in args.only:
            continue
        start = time.perf_counter()
        print(f"... {module.NAME}", end="", flush=True)
        try:
            results.extend(module.run(args.quick))
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(module.NAME)
            results.append(
                Result(module.NAME, "(benchmark failed)", None, "", note=f"{type(exc).__name__}: {exc}")
            )
        print(f" {time.perf_counter() - start:.1f}s", flush=True)

    print()
    print(format_table(results))
    payload = {
        "quick": args.quick,
        "machine": machine,
        "results": [r.as_json() for r in results],
    }
    targets = [r for r in results if r.met is not None]
    print(f"\n{sum(1 for r in targets if r.met)} of {len(targets)} targets met")
    # a quick run is a smoke test: it must not overwrite the measured figures
    name = "quick.json" if args.quick else "latest.json"
    outputs = [os.path.join(ROOT, "benchmarks", "results", name)]
    if args.json:
        outputs.append(args.json)
    for path in outputs:
        dump_json(path, payload)
        print(f"wrote {path}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(format_markdown(results, machine) + "\n")
        print(f"wrote {args.markdown}")
    if args.update_doc:
        _update_doc(args.update_doc, format_markdown(results, machine))
        print(f"updated {args.update_doc}")
    if failed:
        print(f"benchmarks that raised: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


_START, _END = "<!-- bench:table -->", "<!-- /bench:table -->"


def _update_doc(path: str, table: str) -> None:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, sep, rest = text.partition(_START)
    _old, sep2, tail = rest.partition(_END)
    if not sep or not sep2:
        raise SystemExit(f"{path}: no {_START} ... {_END} markers")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{_START}\n{table}\n{_END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
