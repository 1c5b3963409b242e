"""The lifecycle's commands: ``resolve``, ``silence``, ``alerts``, ``tick``, ``heartbeat``.

Registered by :mod:`kstalerts.cli` (which hands over its config options
and its manager builder, so this module never imports it back). Exit codes
are the CLI's: 0 done, 1 a delivery failed, 2 bad input or config (the
message names the fix). Commands that only read or change lifecycle state
(``silence``, ``alerts``, ``heartbeat --list/--delete``) build no channel;
the others build the manager as ``send`` does.

Rules: the state folder is ``alerts.lifecycle.state_dir`` of the config
(or ``--state-dir``); a config without ``alerts.lifecycle`` is an error
saying how to turn it on, since state nobody reads would be a false
promise. Times are shown in UTC.
"""

import argparse
import json
import sys
import time

from ._lazy import TYPE_CHECKING
from ._typing import Any, Callable, Dict, List, Optional, TextIO, Tuple
from .exceptions import AlertConfigurationError

if TYPE_CHECKING:
    from .lifecycle import Lifecycle
    from .manager import AlertManager
    from .models import AlertResult

__all__ = ()

ManagerFactory = Callable[[argparse.Namespace], "AlertManager"]
_TICK_INTERVAL = 60.0  # the shipped schedules run a tick every minute

_helpers: Dict[str, Any] = {}


def connect(
    *,
    config_options: Callable[[argparse.ArgumentParser], None],
    manager: Any,
    exit_code: Callable[[Any], int],
) -> None:
    """Take the CLI's helpers (this module stands below :mod:`kstalerts.cli`
    and cannot import it): done by :func:`setup`, and by ``run`` before a
    heartbeat ping when only run's parser was built."""
    _helpers.update(config_options=config_options, manager=manager, exit_code=exit_code)


def setup(
    subparsers: Any,
    *,
    config_options: Callable[[argparse.ArgumentParser], None],
    manager: Any,
    exit_code: Callable[[Any], int],
) -> None:
    """Add the lifecycle's subcommands; ``manager(args)`` builds a manager from the config
    options, ``exit_code(results)`` is the CLI's rule (both from :mod:`kstalerts.cli`)."""
    connect(config_options=config_options, manager=manager, exit_code=exit_code)
    for add in (_setup_resolve, _setup_silence, _setup_alerts, _setup_tick, _setup_heartbeat):
        add(subparsers)


def _common(parser: argparse.ArgumentParser) -> None:
    _helpers["config_options"](parser)
    parser.add_argument(
        "--state-dir", metavar="DIR", help="lifecycle state folder (default: from the config)"
    )


def _sub(subparsers: Any, name: str, help_text: str, epilog: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


# -- resolve -----------------------------------------------------------------


def _setup_resolve(subparsers: Any) -> None:
    parser = _sub(
        subparsers,
        "resolve",
        "tell every channel that heard an alert fire that it is resolved",
        "examples:\n  kstalerts resolve disk-db1\n"
        "  kstalerts resolve --title 'disk full' --label host=db1\n\n"
        "Resolving what is not firing sends nothing and is not an error.",
    )
    parser.add_argument("key", nargs="?", help="the alert's dedup key (send --key)")
    parser.add_argument("--title", help="name it by title (with its --label values) instead of a key")
    parser.add_argument("--label", action="append", default=[], metavar="NAME=VALUE", type=label)
    _helpers["config_options"](parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=_run_resolve)


def label(text: str) -> Tuple[str, str]:
    """``NAME=VALUE`` of ``--label``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write a label as NAME=VALUE (for example host=db1)")
    return name.strip(), value


def _run_resolve(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    exit_code = _helpers["exit_code"]
    if (args.key is None) == (args.title is None):
        raise AlertConfigurationError("name the alert by its KEY or by --title (with its --label values)")
    if args.key is not None and args.label:
        raise AlertConfigurationError("--label goes with --title; a KEY names the alert alone")
    with _helpers["manager"](args) as manager:
        _require_lifecycle(manager)
        if args.key is not None:
            results = manager.resolve(args.key)
        else:
            results = manager.resolve(args.title, labels=dict(args.label))
    if args.json:
        json.dump(
            [{"channel": r.channel, "ok": r.outcome.meaning.ok, "error": r.error} for r in results], out
        )
        out.write("\n")
    else:
        for result in results:
            out.write(f"{result}\n")
        if not results:
            out.write("nothing to resolve: no channel was notified of it firing\n")
    return exit_code(results) if results else 0


# -- silence -----------------------------------------------------------------


def _setup_silence(subparsers: Any) -> None:
    parser = _sub(
        subparsers,
        "silence",
        "hold the alerts that matchers select, for a while",
        "examples:\n"
        "  kstalerts silence add host=db1 --for 2h --comment 'rebooting db1'\n"
        "  kstalerts silence add 'alertname=~\"disk.*\"' host!=db9 --comment noisy\n"
        "  kstalerts silence query --all\n"
        "  kstalerts silence expire 3f2a9c1d\n\n"
        "matchers: name=value, name!=value, name=~regex, name!~regex over the labels,\n"
        "alertname (the title), level and key; regexes match the whole value.",
    )
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a silence; prints its id")
    add.add_argument("matchers", nargs="+", metavar="MATCHER")
    add.add_argument(
        "--for", dest="duration", default="1h", help="how long: 30m, 2h, 1d (default 1h, at most 30d)"
    )
    add.add_argument("--comment", required=True, help="why (required)")
    add.add_argument("--author", default="", help="who (default: $USER)")
    _common(add)
    add.set_defaults(run=_run_silence_add)
    query = actions.add_parser("query", help="list the silences in force or to come")
    query.add_argument("--all", action="store_true", help="the expired ones too")
    query.add_argument("--json", action="store_true")
    _common(query)
    query.set_defaults(run=_run_silence_query)
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the id 'silence add' printed (or its first 4+ characters)")
    _common(expire)
    expire.set_defaults(run=_run_silence_expire)


def _run_silence_add(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    import os

    life = _lifecycle(args)
    author = args.author or os.environ.get("USER", "")
    silence = life.silence(args.matchers, args.duration, comment=args.comment, author=author)
    out.write(f"{silence.id}\n")
    return 0


def _run_silence_query(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    life = _lifecycle(args)
    now = time.time()
    found = life.silences(include_expired=args.all)
    if args.json:
        return _json(out, [s.to_dict(now) for s in found])
    if not found:
        out.write("no silences\n")
    for s in found:
        matchers = " ".join(str(m) for m in s.matchers)
        by = f" by {s.author}" if s.author else ""
        out.write(f"{s.id}  {s.state(now):<8} until {_utc(s.ends)}  {matchers}  # {s.comment}{by}\n")
    return 0


def _run_silence_expire(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    ended = _lifecycle(args).expire_silence(args.id)
    out.write("expired\n" if ended else "already expired\n")
    return 0


# -- alerts --------------------------------------------------------------------


def _setup_alerts(subparsers: Any) -> None:
    parser = _sub(
        subparsers,
        "alerts",
        "list the alerts firing now: since when, who was told, held, silenced or inhibited",
        "examples:\n  kstalerts alerts\n  kstalerts alerts --json",
    )
    parser.add_argument("--json", action="store_true")
    _common(parser)
    parser.set_defaults(run=_run_alerts)


def _run_alerts(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    life = _lifecycle(args)
    firing = life.alerts()
    _warn_no_tick(life)
    if args.json:
        return _json(out, firing)
    if not firing:
        out.write("no alerts firing\n")
    for alert in firing:
        labels = ",".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
        key = f" key={alert['key']}" if alert["key"] else ""
        out.write(f"{alert['level']:<8} {alert['title']}{key}{' {' + labels + '}' if labels else ''}\n")
        out.write(f"  firing since {_utc(alert['since'])}, {alert['repeats_held']} repeat(s) held\n")
        for channel, seen in alert["channels"].items():
            when = _utc(seen["at"]) if seen["at"] else "never"
            out.write(f"  {channel}: last notified {seen['state'] or 'not yet'} at {when}\n")
        for why, what in (("silenced by", alert["silenced_by"]), ("inhibited by", alert["inhibited_by"])):
            if what:
                out.write(f"  {why} {what if isinstance(what, str) else ', '.join(what)}\n")
        if alert["flapping"]:
            out.write("  flapping\n")
    return 0


# -- tick ---------------------------------------------------------------------


def _setup_tick(subparsers: Any) -> None:
    parser = _sub(
        subparsers,
        "tick",
        "do what time asks: missed heartbeats, silences that ended, stale alerts",
        "Run it every minute from cron or the shipped systemd timer:\n"
        "  * * * * * kstalerts tick\n"
        "  kstalerts tick --install-hint    prints what to install on this host\n\n"
        "Safe to run concurrently; a tick with nothing to do is one short process.",
    )
    parser.add_argument(
        "--install-hint", action="store_true", help="print the crontab line and systemd units"
    )
    _helpers["config_options"](parser)
    parser.set_defaults(run=_run_tick)


def _run_tick(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    exit_code = _helpers["exit_code"]
    if args.install_hint:
        out.write(install_hint(args.config))
        return 0
    due = _lifecycle(args, own_state_dir=False).due()  # no channel is built when nothing is due
    sent: List["AlertResult"] = []  # noqa: UP037
    if due.alerts:
        with _helpers["manager"](args) as manager:
            for alert in due.alerts:
                sent.extend(manager.send(alert))
    # Held, silenced or inhibited is a tick doing its job: only deliveries judge the exit code.
    results = [r for r in sent if r.outcome.meaning.stat in ("sent", "failed", "throttled")]
    for title in due.stale:
        _stderr(f"stale: {title!r} fired with no send for a long time; dropped from the log at the next tick")
    return exit_code(results) if results else 0


def install_hint(config: Optional[str]) -> str:
    """The crontab line and systemd units for this host (nothing is written)."""
    import os
    import shutil

    exe = shutil.which("kstalerts") or f"{sys.executable} -m kstalerts"
    cfg = f" --config {os.path.abspath(config)}" if config else ""
    return (
        "# cron (crontab -e):\n"
        f"* * * * * {exe} tick{cfg}\n\n"
        "# or systemd (as root: /etc/systemd/system/; as a user: ~/.config/systemd/user/):\n"
        "# kstalerts-tick.service\n"
        "[Unit]\nDescription=kstalerts tick: heartbeats, ended silences, stale alerts\n\n"
        f"[Service]\nType=oneshot\nExecStart={exe} tick{cfg}\n\n"
        "# kstalerts-tick.timer\n"
        "[Unit]\nDescription=Run kstalerts tick every minute\n\n"
        "[Timer]\nOnCalendar=*-*-* *:*:00\nPersistent=true\nAccuracySec=1s\n\n"
        "[Install]\nWantedBy=timers.target\n\n"
        "# then: systemctl enable --now kstalerts-tick.timer (add --user for a user unit)\n"
    )


# -- heartbeat -----------------------------------------------------------------


def _setup_heartbeat(subparsers: Any) -> None:
    parser = _sub(
        subparsers,
        "heartbeat",
        "record that NAME is alive; a missed heartbeat fires an alert at the next tick",
        "examples:\n"
        "  kstalerts heartbeat backup --every 1d            after each backup\n"
        "  kstalerts heartbeat backup --every 1d --grace 2h\n"
        "  kstalerts heartbeat --list\n"
        "  kstalerts heartbeat --delete backup\n\n"
        "grace defaults to 10% of --every, at least 1m. Needs 'kstalerts tick' every minute.",
    )
    parser.add_argument("name", nargs="?")
    parser.add_argument("--every", help="expected interval: 1h, 1d, 7d")
    parser.add_argument("--grace", help="lateness forgiven (default 10%% of --every, at least 1m)")
    parser.add_argument("--level", default="critical", help="level of the missed alert (default critical)")
    parser.add_argument("--list", action="store_true", help="show each heartbeat: last seen, next due, state")
    parser.add_argument("--delete", action="store_true", help="forget NAME")
    parser.add_argument("--json", action="store_true")
    _common(parser)
    parser.set_defaults(run=_run_heartbeat)


def _run_heartbeat(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    if args.list:
        life = _lifecycle(args)
        now = time.time()
        beats = life.heartbeats()
        _warn_no_tick(life)
        if args.json:
            return _json(out, [b.to_dict(now) for b in beats])
        if not beats:
            out.write("no heartbeats\n")
        for b in beats:
            seen = _utc(b.last) if b.last is not None else "never"
            out.write(f"{b.name}  {b.state(now):<6} last seen {seen}, next due {_utc(b.due)}\n")
        return 0
    if not args.name:
        raise AlertConfigurationError("name the heartbeat: kstalerts heartbeat NAME --every 1d (or --list)")
    if args.delete:
        _lifecycle(args).delete_heartbeat(args.name)
        out.write(f"deleted heartbeat {args.name}\n")
        return 0
    if args.every is None:
        raise AlertConfigurationError("say how often it is expected: --every 1h (or 30m, 1d, seconds)")
    return ping(args, args.name, args.every, args.grace, args.level, out)


def ping(
    args: argparse.Namespace,
    name: str,
    every: str,
    grace: Optional[str],
    level: str,
    out: TextIO,
    *,
    own_state_dir: bool = True,
) -> int:
    """Record ``name`` alive; if it had been missed, resolve its alert (``run --heartbeat`` uses this)."""
    from .lifecycle.heartbeats import Cadence, key_of

    exit_code = _helpers["exit_code"]
    life = _lifecycle(args, own_state_dir=own_state_dir)
    was_missed = life.heartbeat(name, Cadence.parse(every, grace, level))
    if not was_missed:
        return 0
    with _helpers["manager"](args) as manager:
        results = manager.resolve(key_of(name))
    for result in results:
        out.write(f"{result}\n")
    return exit_code(results) if results else 0


# -- run --heartbeat -------------------------------------------------------------


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``run``'s heartbeat options."""
    parser.add_argument("--heartbeat", metavar="NAME", help="ping heartbeat NAME after each success")
    parser.add_argument("--every", help="with --heartbeat: the expected interval (1h, 1d)")
    parser.add_argument("--grace", help="with --heartbeat: lateness forgiven (default 10%% of --every)")


def declare_heartbeat(args: argparse.Namespace) -> None:
    """Before the job runs: check ``--heartbeat``/``--every`` and declare the heartbeat (unpinged),
    so a job that never succeeds is missed ``every + grace`` after its first run."""
    if args.heartbeat is None:
        if args.every is not None or args.grace is not None:
            raise AlertConfigurationError("--every and --grace go with --heartbeat NAME")
        return
    if args.every is None:
        raise AlertConfigurationError("--heartbeat needs --every (how often the job succeeds: 1h, 1d)")
    from .lifecycle.heartbeats import Cadence

    life = _lifecycle(args, own_state_dir=False)  # its errors first, then the durations'
    life.heartbeat(args.heartbeat, Cadence.parse(args.every, args.grace), ping=False)


def ping_after_run(args: argparse.Namespace, exit_code: int, out: TextIO) -> None:
    """After the job: a success pings the heartbeat; a problem is said, never the job's status."""
    if args.heartbeat is None or exit_code != 0:
        return
    try:
        ping(args, args.heartbeat, args.every, args.grace, "critical", sys.stderr, own_state_dir=False)
    except (AlertConfigurationError, OSError) as exc:
        _stderr(f"run: heartbeat {args.heartbeat!r} not recorded: {exc}")


# -- shared ----------------------------------------------------------------------


def _lifecycle(args: argparse.Namespace, *, own_state_dir: bool = True) -> "Lifecycle":
    """The lifecycle of the config (or ``--state-dir``, unless it is another command's), without
    building channels."""
    from .config import load_config
    from .lifecycle.settings import from_loaded

    state_dir = getattr(args, "state_dir", None) if own_state_dir else None
    loaded = load_config(args.config, preset=args.preset)
    life = from_loaded(loaded, state_dir=state_dir)
    if life is None:
        raise AlertConfigurationError(
            f"the alert lifecycle is off in {loaded.path or 'the built-in defaults'}: add"
            " 'lifecycle: {repeat_interval: 4h}' under 'alerts:' (or pass --state-dir)"
        )
    return life


def _require_lifecycle(manager: "AlertManager") -> "Lifecycle":
    life: Optional["Lifecycle"] = getattr(manager, "lifecycle", None)  # noqa: UP037
    if life is None:
        raise AlertConfigurationError(
            "the alert lifecycle is off in this config:"
            " add 'lifecycle: {repeat_interval: 4h}' under 'alerts:'"
        )
    return life


def describe(life: "Lifecycle", out: TextIO) -> List[str]:
    """``check-config``'s lines about the lifecycle; returns its warnings."""
    from .lifecycle.durations import human

    rules = len(life.rules)
    out.write(
        f"lifecycle: on, state in {life.state_dir}, repeat_interval {human(life.repeat_interval)},"
        f" {rules} inhibition rule(s)\n"
    )
    missing = _no_tick(life)
    return [missing] if missing else []


def _no_tick(life: "Lifecycle") -> Optional[str]:
    """Why the heartbeats are a false promise (no recent tick), or ``None``."""
    if not life.heartbeats():
        return None
    last = life.last_tick()
    if last is not None and time.time() - last <= 3 * _TICK_INTERVAL:
        return None
    when = "ever" if last is None else f"since {_utc(last)}"
    return (
        f"no 'kstalerts tick' has run {when}: missed heartbeats fire nobody"
        " (see kstalerts tick --install-hint)"
    )


def _warn_no_tick(life: "Lifecycle") -> None:
    missing = _no_tick(life)
    if missing:
        _stderr(f"warning: {missing}")


def _json(out: TextIO, value: Any) -> int:
    json.dump(value, out, indent=2)
    out.write("\n")
    return 0


def _utc(stamp: Optional[float]) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(stamp))


def _stderr(message: str) -> None:
    sys.stderr.write(f"kstalerts: {message}\n")
