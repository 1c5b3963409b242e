"""Child processes for tests/test_lifecycle.py: fork, exit, signals, close.

Run as ``python -m tests.lifecycle_children <scenario> <json-arguments>``
from the repository root. Each scenario runs in a fresh interpreter against
the test's real loopback servers and prints one JSON line (``report``) with
what the parent test checks. Forked grandchildren carry an ``alarm`` so
that a hang ends them instead of outliving the test.

Titles carry a tag ``LC[...]`` that the tests find again in what the
servers received, whatever the channel's formatting around it.
"""

import atexit
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any, Dict, List, Optional

from kstalerts import AlertHandler, AlertLevel, AlertManager, AlertMessage, AlertResult
from kstalerts.channels import EmailChannel, SlackChannel
from kstalerts.transports import SMTPTransport

# Python 3.12+ warns that fork() in a process with threads may deadlock the
# child: making that safe is what these scenarios check.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")

SENDER = "alerts@example.test"
RCPT = "ops@example.test"


def report(data: Any) -> None:
    """The one line the parent test reads."""
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def alert(tag: str, level: AlertLevel = AlertLevel.CRITICAL) -> AlertMessage:
    return AlertMessage("LC[%s]" % tag, "lifecycle scenario", level, labels={"tag": tag})


def slack(url: str, name: str = "slack") -> SlackChannel:
    return SlackChannel(url, name=name, allow_custom_url=True, max_retries=0, timeout=10)


def email(port: int, ca: Optional[str] = None, name: str = "email") -> EmailChannel:
    if ca:
        transport = SMTPTransport("127.0.0.1", port, security="starttls", ssl_ca_bundle=ca, timeout=10)
    else:
        transport = SMTPTransport("127.0.0.1", port, security="none", timeout=10)
    return EmailChannel(transport, sender=SENDER, recipients=[RCPT], name=name, max_retries=0, timeout=10)


def brief(results: List[AlertResult]) -> List[List[Any]]:
    return [[r.channel, r.success, r.error] for r in results]


# -- fork ----------------------------------------------------------------------
def fork_send(args: Dict[str, Any]) -> None:
    """One channel sends once, the process forks ``children`` children; the
    parent and every child then send ``each`` alerts at the same time.
    ``raw_fork`` forks through libc, behind Python's back."""
    channel: Any = slack(args["url"]) if args["kind"] == "slack" else email(args["port"], args.get("ca"))
    first = channel.send(alert("p-first"))
    fork = os.fork
    if args.get("raw_fork"):  # libc's fork(): no at-fork hook runs, only the pid checks can tell
        import ctypes

        fork = ctypes.CDLL(None, use_errno=True).fork
    read_end, write_end = os.pipe()
    pids = []
    for k in range(args["children"]):
        pid = fork()
        if pid == 0:  # the child
            signal.alarm(30)
            os.close(read_end)
            results = [channel.send(alert("c%d-%02d" % (k, i))) for i in range(args["each"])]
            line = json.dumps({"child": k, "results": brief(results)}) + "\n"
            os.write(write_end, line.encode())
            os._exit(0)
        pids.append(pid)
    os.close(write_end)
    mine = [channel.send(alert("p-%02d" % i)) for i in range(args["each"])]
    codes = [os.waitpid(pid, 0)[1] for pid in pids]
    with os.fdopen(read_end) as pipe:
        children = [json.loads(line) for line in pipe]
    channel.close()
    report({"first": brief([first]), "parent": brief(mine), "children": children, "codes": codes})


def fork_after_fan_out(args: Dict[str, Any]) -> None:
    """A manager fans out to 3 channels, then the process forks; the child sends."""
    manager = AlertManager()
    for i, url in enumerate(args["urls"]):
        manager.add_channel(slack(url, name="slack%d" % i))
    before = manager.send(alert("before-fork"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)
        started = time.monotonic()
        results = manager.send(alert("in-child"))
        elapsed = time.monotonic() - started
        manager.close()
        os.write(write_end, (json.dumps({"elapsed": elapsed, "results": brief(results)}) + "\n").encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = json.loads(pipe.readline() or "null")
    os.waitpid(pid, 0)
    after = manager.send(alert("parent-after-fork"))
    manager.close()
    report({"before": brief(before), "child": child, "after": brief(after)})


# -- exit ----------------------------------------------------------------------
def _two_channels(args: Dict[str, Any]) -> AlertManager:
    manager = AlertManager()
    manager.add_channel(slack(args["url"]))
    manager.add_channel(email(args["port"]))
    return manager


def at_exit_send(args: Dict[str, Any]) -> None:
    """An atexit handler sends to two channels (after the pool was used)."""
    manager = _two_channels(args)
    warm = manager.send(alert("warm-up"))

    def on_exit() -> None:
        report({"warm": brief(warm), "at_exit": brief(manager.send(alert("at-exit")))})

    atexit.register(on_exit)


def at_exit_logging(args: Dict[str, Any]) -> None:
    """An atexit handler logs an error; an AlertHandler sends it."""
    manager = _two_channels(args)
    handler = AlertHandler(manager)
    log = logging.getLogger("lifecycle.app")
    log.addHandler(handler)
    log.error("LC[log-warm-up]")

    def on_exit() -> None:
        log.error("LC[log-at-exit] the job ended badly")
        report({"at_exit": brief(handler.last_results)})

    atexit.register(on_exit)


def finalizer_send(args: Dict[str, Any]) -> None:
    """A ``weakref.finalize`` finalizer (run at exit) sends to two channels."""
    import weakref

    manager = _two_channels(args)
    warm = manager.send(alert("warm-up"))

    class Resource:
        pass

    def on_finalize() -> None:
        report({"warm": brief(warm), "finalizer": brief(manager.send(alert("finalizer")))})

    globals()["_resource"] = resource = Resource()
    weakref.finalize(resource, on_finalize)


# -- signals -------------------------------------------------------------------
def sigterm_during_send(args: Dict[str, Any]) -> None:
    """The main thread sends to a slow channel (alone: inline, or with a fast
    one: fan-out); SIGTERM arrives meanwhile, and its handler sends too."""
    manager = AlertManager()
    manager.add_channel(slack(args["slow_url"], name="slow"))
    if args["fan_out"]:
        manager.add_channel(slack(args["fast_url"], name="fast"))
    seen: Dict[str, Any] = {}

    def on_term(signum: int, frame: Any) -> None:
        seen["handler"] = brief(manager.send(alert("from-handler")))
        report(seen)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    with manager:
        if args.get("spool"):  # main is inside flush_spool instead, delivering a spooled alert
            manager.use_spool(args["spool"])
            assert manager.spool is not None
            manager.spool.put(alert("main"), "slow")
            seen["flush"] = str(manager.flush_spool())
        else:
            manager.send(alert("main"))  # the parent signals once the server has it
        seen["main_returned"] = True
    report(seen)


def signal_storm(args: Dict[str, Any]) -> None:
    """SIGUSR1 every few milliseconds while the main thread sends in a loop
    (until main and handlers have each ``at_least`` results, or ``seconds``
    pass); every handler sends too. A lock taken twice would hang here."""
    manager = AlertManager()
    manager.add_channel(slack(args["url"], name="a"))
    manager.add_channel(slack(args["url"], name="b"))
    handler_results: List[AlertResult] = []

    def on_usr1(signum: int, frame: Any) -> None:
        n = len(handler_results)
        target = None if n % 2 else "a"
        handler_results.extend(manager.send(alert("sig-%d" % n, AlertLevel.INFO), channel=target))

    signal.signal(signal.SIGUSR1, on_usr1)
    stop = threading.Event()

    def fire() -> None:
        me = os.getpid()
        while not stop.wait(args["interval"]):
            os.kill(me, signal.SIGUSR1)

    sender = threading.Thread(target=fire)
    main_results: List[AlertResult] = []
    # The first send imports http.client and friends; before Python 3.12 the
    # import system itself is not safe against a signal handler that
    # imports while an import is half done (importlib's _blocking_on).
    if args["warm_up"]:
        main_results.extend(manager.send(alert("warm-up", AlertLevel.INFO)))
    least = args["at_least"]
    with manager:
        sender.start()
        try:
            # until both sides sent enough (a deadlock hangs here: the test's
            # timeout catches it), within a bound a starved main thread hits
            deadline = time.monotonic() + args["seconds"]
            i = 0
            while (len(main_results) < least or len(handler_results) < least) and time.monotonic() < deadline:
                target = "b" if i % 3 == 2 else None
                main_results.extend(manager.send(alert("main-%d" % i, AlertLevel.INFO), channel=target))
                i += 1
        finally:
            stop.set()
            sender.join()
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    report(
        {
            "main": len(main_results),
            "main_ok": sum(r.success for r in main_results),
            "handler": len(handler_results),
            "handler_ok": sum(r.success for r in handler_results),
            "errors": sorted({str(r.error) for r in main_results + handler_results if not r.success}),
        }
    )


class _FiringClock:
    """A clock that, once armed, raises SIGUSR1 in this thread from inside
    the caller (a throttle or dedup calls its clock with its lock held) and
    notes whether the handler had run before the clock returned."""

    def __init__(self) -> None:
        self.armed = False
        self.handler_ran = False
        self.ran_inside: List[bool] = []

    def __call__(self) -> float:
        if self.armed:
            self.armed = False
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            _tick()  # a Python call: the handler runs here at the latest
            self.ran_inside.append(self.handler_ran)
        return time.monotonic()


def _tick() -> None:
    pass


def signal_in_locks(args: Dict[str, Any]) -> None:
    """A signal arrives while the main thread holds a throttle's or a dedup's
    lock (in memory, or a state file's flock) inside send; its handler sends
    through the same channel, throttle and dedup."""
    from kstalerts import AlertThrottle
    from kstalerts.dedup import Deduplicator

    signal.alarm(20)  # a deadlock ends the process instead of the test's patience
    clock = _FiringClock()
    state = args.get("state_file")
    if args["part"] == "throttle":
        throttle = AlertThrottle(rate=100, per=1.0, burst=100, clock=clock, state_file=state)
        manager = AlertManager()
        manager.add_channel(slack(args["url"]), throttle=throttle)
    else:
        manager = AlertManager(dedup=Deduplicator(60.0, state_file=state, clock=clock))
        manager.add_channel(slack(args["url"]))
    handler_results: List[AlertResult] = []

    def on_usr1(signum: int, frame: Any) -> None:
        handler_results.extend(manager.send(alert("handler-" + args["part"])))
        clock.handler_ran = True

    signal.signal(signal.SIGUSR1, on_usr1)
    with manager:
        clock.armed = True
        main = manager.send(alert("main-" + args["part"]))
    report({"main": brief(main), "handler": brief(handler_results), "ran_inside": clock.ran_inside})


# -- close -----------------------------------------------------------------------
def close_race(args: Dict[str, Any]) -> None:
    """8 threads x 50 sends to 2 channels; the main thread closes the manager
    while they run."""
    manager = AlertManager(spool=args["spool"])
    manager.add_channel(slack(args["url"], name="a"))
    manager.add_channel(slack(args["url"], name="b"))
    results: List[AlertResult] = []
    errors: List[str] = []
    lock = threading.Lock()
    start = threading.Barrier(9)

    def work(t: int) -> None:
        start.wait()
        for i in range(args["sends"]):
            try:
                got = manager.send(alert("t%d-%02d" % (t, i)))
            except BaseException as exc:  # what the test counts: there must be none
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                results.extend(got)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args["threads"])]
    for thread in threads:
        thread.start()
    start.wait()
    while True:
        with lock:
            if len(results) >= args["close_after"]:
                break
        time.sleep(0.001)
    manager.close()
    closed_at = len(results)
    for thread in threads:
        thread.join(30)
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    failed = [r for r in results if not r.success]
    report(
        {
            "closed_at": closed_at,
            "errors": errors,
            "results": len(results),
            "delivered": sorted(r.alert.title for r in results if r.success and r.alert is not None),
            "failed_errors": sorted({str(r.error) for r in failed}),
            "failed_spooled": sum(r.spooled for r in failed),
            "failed": len(failed),
            "spool_len": len(manager.spool) if manager.spool is not None else -1,
            "alive": alive,
        }
    )


# -- multiprocessing -------------------------------------------------------------
_log = logging.getLogger("lifecycle.worker")
_handler: Optional[AlertHandler] = None
_manager: Optional[AlertManager] = None


def _log_job(i: int) -> List[List[Any]]:
    _log.error("LC[job-%02d] failed in worker %d", i, os.getpid())
    assert _handler is not None
    return brief(_handler.last_results)


def pool_fork(args: Dict[str, Any]) -> None:
    """A handler built in the parent; 4 fork-started workers log 40 errors."""
    global _handler
    manager = _two_channels(args)
    _handler = AlertHandler(manager)
    _log.addHandler(_handler)
    _log.error("LC[parent-warm-up]")  # connections and pool threads now live
    warm = brief(_handler.last_results)
    with multiprocessing.get_context("fork").Pool(args["workers"]) as pool:
        jobs = pool.map(_log_job, range(args["jobs"]), chunksize=1)
    manager.close()
    report({"warm": warm, "jobs": jobs})


def _spawn_init(config: str) -> None:
    global _manager
    _manager = AlertManager.from_config(config)


def _send_job(message: AlertMessage) -> List[AlertResult]:
    assert _manager is not None
    return _manager.send(message)  # AlertResults travel back pickled, alert included


def pool_spawn(args: Dict[str, Any]) -> None:
    """Spawn-started workers build their manager from a config file; the
    alerts go to them, and the results come back, pickled."""
    messages = [alert("spawn-%02d" % i) for i in range(args["jobs"])]
    context = multiprocessing.get_context("spawn")
    with context.Pool(args["workers"], initializer=_spawn_init, initargs=(args["config"],)) as pool:
        results = pool.map(_send_job, messages, chunksize=1)
    report(
        {
            "results": [brief(r) for r in results],
            "alerts_equal": all(
                all(result.alert == message for result in batch) for batch, message in zip(results, messages)
            ),
        }
    )


# -- pickling ----------------------------------------------------------------------
def unpickle(args: Dict[str, Any]) -> None:
    """Read pickled values on stdin; describe them and pickle them back (hex)."""
    import pickle

    values = pickle.loads(bytes.fromhex(sys.stdin.read().strip()))
    message, result, level = values
    report(
        {
            "message": [
                message.title,
                message.body,
                message.level.name,
                dict(message.labels),
                message.dedup_key,
                message.created_at,
                message.timestamp,
            ],
            "result": [
                result.channel,
                result.success,
                result.error,
                result.attempts,
                result.alert == message,
            ],
            "level": [type(level).__name__, level.name],
            "back": pickle.dumps(values).hex(),
        }
    )


SCENARIOS = {
    name: globals()[name]
    for name in (
        "fork_send",
        "fork_after_fan_out",
        "at_exit_send",
        "at_exit_logging",
        "finalizer_send",
        "sigterm_during_send",
        "signal_storm",
        "signal_in_locks",
        "close_race",
        "pool_fork",
        "pool_spawn",
        "unpickle",
    )
}


if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
