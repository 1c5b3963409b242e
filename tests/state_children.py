"""Child processes for the state store's crash and contention tests.

Run as ``python -m tests.state_children <command> <json args>``; each command
prints one JSON line (or ``ready`` first, when the parent must wait for it).
"""

import json
import os
import random
import signal
import sys
import time
from typing import Any, Dict, List

from kstalerts import AlertManager, AlertThrottle
from kstalerts.spool import Spool


def _wait_for(path: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path} within {limit}s")
        time.sleep(0.002)


def contend(args: Dict[str, Any]) -> None:
    """Wait for ``go``, then ``tries`` try_acquire on a shared burst-10 bucket; print the admitted count."""
    bucket = AlertThrottle(
        rate=args.get("rate", 10), per=args.get("per", 86400.0), burst=10, state_file=args["state_file"]
    )
    print("ready", flush=True)
    _wait_for(args["go"])
    admitted = sum(bucket.try_acquire() for _ in range(args["tries"]))
    print(json.dumps({"admitted": admitted}), flush=True)


def contend_farm(args: Dict[str, Any]) -> None:
    """``trials`` times: fork ``processes`` children that each wait for one
    go signal, then ``tries`` try_acquire at once on a fresh shared burst-10
    bucket; print the admitted total of each trial."""
    totals: List[int] = []
    for trial in range(args["trials"]):
        state_file = os.path.join(args["folder"], f"trial-{trial}.json")
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        pids = []
        for _ in range(args["processes"]):
            pid = os.fork()
            if pid == 0:
                os.close(go_w)
                os.close(out_r)
                bucket = AlertThrottle(rate=10, per=86400.0, burst=10, state_file=state_file)
                os.read(go_r, 1)  # every child waits here: the parent closes the pipe to say go
                admitted = sum(bucket.try_acquire() for _ in range(args["tries"]))
                os.write(out_w, bytes([admitted]))
                os._exit(0)
            pids.append(pid)
        os.close(go_r)
        os.close(out_w)
        time.sleep(0.5)  # every child built its throttle and waits
        os.close(go_w)
        for pid in pids:
            os.waitpid(pid, 0)
        counts = b""
        while True:
            chunk = os.read(out_r, 4096)
            if not chunk:
                break
            counts += chunk
        os.close(out_r)
        assert len(counts) == args["processes"], counts
        totals.append(sum(counts))
    print(json.dumps({"admitted": totals}), flush=True)


def paced(args: Dict[str, Any]) -> None:
    """try_acquire every ``every`` seconds for ``seconds``; print the monotonic times admitted."""
    bucket = AlertThrottle(rate=args["rate"], per=args["per"], burst=args["burst"], state_file=args["state_file"])
    print("ready", flush=True)
    _wait_for(args["go"])
    admitted: List[float] = []
    end = time.monotonic() + args["seconds"]
    while time.monotonic() < end:
        if bucket.try_acquire():
            admitted.append(time.monotonic())
        time.sleep(args["every"])
    print(json.dumps({"admitted": admitted}), flush=True)


def flush_farm(args: Dict[str, Any]) -> None:
    """Keep ``flushers`` forked flushes running on the config's spool, SIGKILL one
    at random every few milliseconds until ``kills`` were killed, then flush
    without kills until the spool is empty. Prints the kills and the last report."""
    rng = random.Random(args.get("seed", 24))
    spool = Spool(args["spool"])
    running: Dict[int, float] = {}  # pid -> monotonic start
    kills = 0

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the child: one flush after another, until told to stop by a kill or an empty spool
            code = 0
            try:
                with AlertManager.from_config(args["config"]) as manager:
                    while len(spool):
                        manager.flush_spool()
            except BaseException:  # the child's end is all the parent needs
                code = 1
            os._exit(code)
        running[pid] = time.monotonic()

    def reap(block: bool) -> None:
        for pid in list(running):
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            if done:
                del running[pid]

    deadline = time.monotonic() + args.get("limit", 240.0)
    while kills < args["kills"] and time.monotonic() < deadline:
        while len(running) < args["flushers"]:
            spawn()
        time.sleep(rng.uniform(0.0, args.get("pause", 0.03)))
        victim = rng.choice(list(running))
        if time.monotonic() - running[victim] > 0.05:  # past start-up: inside a flush
            try:
                os.kill(victim, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        reap(block=False)
        if not len(spool):
            break
    for pid in list(running):
        os.kill(pid, signal.SIGKILL)
    reap(block=True)
    left_by_chaos = len(spool)
    chaos_seconds = time.monotonic() - deadline + args.get("limit", 240.0)
    with AlertManager.from_config(args["config"]) as manager:
        report = None
        for _ in range(20):  # the dead flushes' claims are released; entries held live are retried
            report = manager.flush_spool()
            if not report.remaining:
                break
        assert report is not None
        print(
            json.dumps(
                {
                    "kills": kills,
                    "left_by_chaos": left_by_chaos,
                    "chaos_seconds": round(chaos_seconds, 1),
                    "remaining": report.remaining,
                    "last": str(report),
                }
            ),
            flush=True,
        )


def flush_once(args: Dict[str, Any]) -> None:
    """One ``flush_spool`` through the config; print the report (the test may kill it first)."""
    with AlertManager.from_config(args["config"]) as manager:
        print("ready", flush=True)
        report = manager.flush_spool()
        print(json.dumps({"report": str(report), "delivered": report.delivered}), flush=True)


COMMANDS = {"contend": contend, "contend_farm": contend_farm, "paced": paced, "flush_farm": flush_farm, "flush_once": flush_once}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
