"""The ``kstalerts`` command line: send, check-config, flush, demo.

Built for cron jobs and shell scripts, so the exit code is the contract:

    0  every channel the alert was meant for delivered it
    1  some channel failed or was throttled, or no channel takes that level
    2  usage or configuration error (nothing was sent)

``run`` is the exception: it exits with its job's status, as coreutils
``timeout`` does (see :mod:`kstalerts.jobs.run`), and 125 for its own usage errors.

Each subcommand is a pair of functions, ``_setup_<name>`` (its arguments)
and ``_run_<name>`` (what it does, returning the exit code), listed with its
name in :data:`_SUBCOMMANDS`; a new subcommand is one more pair (those of
:mod:`kstalerts.commands` and :mod:`kstalerts.cli_lifecycle` keep the pair in
their own module, and one setup line here imports it). Heavy modules
(the channels, the demo's servers) load only in the subcommand that uses
them, so ``kstalerts --help`` is instant.
"""

import os
import sys

from . import _log
from ._lazy import TYPE_CHECKING
from ._typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple, cast
from ._version import __version__
from .exceptions import AlertConfigurationError, NoChannelsWarning, UnresolvedCredentialError
from .limits import MAX_BODY_CHARS
from .models import AlertLevel, AlertMessage, AlertResult

if TYPE_CHECKING:
    import argparse

    from .manager import AlertManager, ChannelEntry

__all__ = ()

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _command(
    subparsers: Any,
    name: str,
    run: "Callable[[argparse.Namespace, TextIO, TextIO], int]",
    summary: str,
    description: str,
    epilog: Optional[str] = None,
    formatter: Any = None,
    **more: Any,
) -> "argparse.ArgumentParser":
    """Add subcommand ``name``, which ``run`` carries out (returning the exit code).

    ``summary`` is its line in ``kstalerts --help``; ``description`` and
    ``epilog`` its own ``--help``, shown as written (``formatter``, at the
    terminal's width). Every subcommand is added here, those of
    :mod:`kstalerts.commands` too (their ``setup`` is handed it: :func:`_adder`).
    """
    from ._argparse import Formatter

    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=formatter or Formatter,
        **more,
    )
    parser.set_defaults(run=run)
    return parser


def _adder(subparsers: Any) -> "Callable[..., argparse.ArgumentParser]":
    """:func:`_command` for ``subparsers``: what a module of :mod:`kstalerts.commands` is handed."""
    return lambda *texts, **more: _command(subparsers, *texts, **more)


_EXAMPLES = """\
examples:
  kstalerts demo
      see every feature at work against loopback sinks; needs no setup
  kstalerts send --title "Backup failed" --body "exit code 2" --level critical
      alert every channel of the discovered config whose level it reaches
  pg_dump app | gzip > app.gz || journalctl -n 50 | kstalerts send --title "dump failed" --body -
      take the body from stdin
  kstalerts send --title "Disk 91%" --level warning --channel ops --json
      one channel, machine-readable results
  kstalerts send --title test --dry-run --config ./kstlib.conf.yml
      show what each channel would send, send nothing
  kstalerts check-config --preset prod
      the file used, its settings with secrets masked, the values the limits clamped
  kstalerts flush --config /etc/kstalerts/kstlib.conf.yml
      send again what the spool kept while a channel was down (run it from cron)

exit codes: 0 delivered everywhere, 1 a channel failed or was throttled, 2 usage or config error.
config discovery: --config, $KSTALERTS_CONFIG, ./kstlib.conf.{yml,toml,json},
~/.config/kstalerts/, /etc/kstalerts/; --preset or $KSTALERTS_PRESET picks a preset.
"""


class _UsageError(Exception):
    """A mistake on the command line that argparse cannot see."""


def _add_config_options(parser: "argparse.ArgumentParser") -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: discovered)")
    parser.add_argument(
        "--preset", metavar="NAME", help="config preset to apply (default: $KSTALERTS_PRESET)"
    )


# -- send ------------------------------------------------------------------


def _setup_send(subparsers: Any) -> None:
    parser = _command(
        subparsers,
        "send",
        _run_send,
        "send one alert to the configured channels",
        "Send one alert to every configured channel whose min_level it reaches.",
        (
            "examples:\n"
            '  kstalerts send --title "Backup failed" --body "exit code 2"\n'
            '  tail -n 40 job.log | kstalerts send --title "job failed" --body - --level warning\n'
            '  kstalerts send --title "Disk 91%" --channel ops --json\n'
            "  kstalerts send --title test --dry-run --config ./kstlib.conf.yml\n\n"
            "exit codes: 0 every matching channel delivered; 1 any failed or was throttled,\n"
            "or no channel takes this level; 2 usage or config error"
        ),
    )
    parser.add_argument("--title", required=True, help="the alert's title (one line)")
    parser.add_argument("--body", default="", help="the alert's text; '-' reads it from stdin")
    parser.add_argument(
        "--level",
        default="critical",
        type=_level,
        help="info, success, warning or critical (default: critical)",
    )
    parser.add_argument("--channel", metavar="KEY", help="send to this channel only (key, alias or name)")
    parser.add_argument("--key", help="the alert's identity (dedup key): what 'kstalerts resolve KEY' names")
    parser.add_argument(
        "--label", action="append", default=[], metavar="NAME=VALUE", type=_label, help="a label (repeatable)"
    )
    _add_config_options(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what each channel would send; send nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


# send's options a cron job writes, read without argparse by _plain_send:
# those taking a value (the dest each sets) and the flags.
_SEND_VALUES = {
    "--title": "title",
    "--body": "body",
    "--level": "level",
    "--channel": "channel",
    "--key": "key",
    "--config": "config",
    "--preset": "preset",
}
_SEND_FLAGS = {"--dry-run": "dry_run", "--json": "json", "-v": "verbose", "--verbose": "verbose"}


def _plain_send(argv: Sequence[str]) -> "Optional[argparse.Namespace]":
    """The arguments of a plain ``kstalerts send``, read without argparse;
    ``None`` for anything else, which argparse reads (and explains).

    Plain: ``send`` first, then only the options of :data:`_SEND_VALUES`
    (as ``--name VALUE`` or ``--name=VALUE``) and :data:`_SEND_FLAGS`,
    spelled out, ``--title`` among them, every value one argparse would
    take as a value, and a level :meth:`AlertLevel.parse` knows. ``--help``,
    ``--label``, an abbreviation, a mistake, all go to argparse. The result
    is what argparse would give (a test compares them): argparse, its
    ``gettext`` and the parser are about a twentieth of a cold ``send``.
    """
    if not argv or argv[0] != "send":
        return None
    found: Dict[str, Any] = {"verbose": False, "dry_run": False, "json": False}
    args = iter(argv[1:])
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in _SEND_FLAGS and not eq:
            found[_SEND_FLAGS[name]] = True
            continue
        if name not in _SEND_VALUES:
            return None
        if not eq:
            given = next(args, None)
            if given is None or (given.startswith("-") and given != "-"):
                return None  # no value, or one argparse may read as an option: argparse decides
            value = given
        found[_SEND_VALUES[name]] = value
    if "title" not in found:
        return None
    try:
        level = AlertLevel.parse(found.get("level", "critical"))
    except AlertConfigurationError:
        return None  # argparse says why
    import types

    values = dict({"body": "", "channel": None, "key": None, "config": None, "preset": None}, **found)
    values.update(level=level, label=[], command="send", run=_run_send)
    return cast("argparse.Namespace", types.SimpleNamespace(**values))


def _label(text: str) -> Any:
    from .cli_lifecycle import label

    return label(text)


def _level(text: str) -> AlertLevel:
    try:
        return AlertLevel.parse(text)
    except AlertConfigurationError as exc:
        import argparse

        raise argparse.ArgumentTypeError(str(exc)) from None


def _read_body(value: str, stdin: TextIO) -> str:
    if value != "-":
        return value
    # Read one character more than an alert keeps, so the cut marker shows.
    # Bytes, when there are bytes: a log piped in need not be valid UTF-8,
    # and its bad bytes become U+FFFD instead of losing the alert.
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        return stdin.read(MAX_BODY_CHARS + 1).rstrip("\n")
    raw: bytes = buffer.read(4 * (MAX_BODY_CHARS + 1))
    return raw.decode("utf-8", "replace")[: MAX_BODY_CHARS + 1].rstrip("\n")


def _run_send(args: "argparse.Namespace", out: TextIO, stdin: TextIO) -> int:
    alert = AlertMessage(
        args.title, _read_body(args.body, stdin), args.level, labels=dict(args.label), dedup_key=args.key
    )
    # A dry run checks structure: a secret not present here is a warning.
    unresolved: Optional[List[UnresolvedCredentialError]] = [] if args.dry_run else None
    manager = _manager(args, unresolved)
    with manager:
        for problem in unresolved or ():
            _error(f"warning: {problem} (sending would fail)")
        targets = manager.targets(args.channel) if manager.channels else []
        matching = [entry for entry in targets if alert.level >= entry.min_level]
        skipped = [entry for entry in targets if alert.level < entry.min_level]
        if args.dry_run:
            code = _dry_run(alert, matching, skipped, args.json, out)
            return EXIT_OK if unresolved and not targets else code
        results = manager.send(alert, channel=args.channel) if matching else []
    code = exit_code(results)
    ok = code == EXIT_OK
    if args.json:
        import json

        json.dump(
            {"ok": ok, "alert": alert.to_dict(), "results": [_result_dict(r) for r in results]},
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for result in results:
            kept = " (kept in the spool: 'kstalerts flush' sends it again)" if result.spooled else ""
            out.write(f"{result}{kept}\n")
    if not matching:
        floors = ", ".join(f"{e.key} >= {e.min_level.name}" for e in skipped)
        _error(f"nothing sent: no channel takes level {alert.level.name} ({floors})")
    return code


def exit_code(results: Sequence[AlertResult]) -> int:
    """``EXIT_OK`` when every result is a delivery, else ``EXIT_FAILED``.

    A duplicate the dedup window suppressed counts as delivered (it was,
    earlier); a throttled, failed or spooled (kept for later) result does
    not. No result at all is a failure: nothing was sent.
    """
    if results and all(r.outcome.meaning.ok for r in results):
        return EXIT_OK
    return EXIT_FAILED


def _result_dict(result: AlertResult) -> Dict[str, Any]:
    return {
        "channel": result.channel,
        "success": result.success,
        "message_id": result.message_id,
        "error": result.error,
        "attempts": result.attempts,
        "throttled": result.throttled,
        "suppressed": result.suppressed,
        "spooled": result.spooled,
        "retryable": result.retryable,
        "status": result.status,
        "outcome": result.outcome.value,
    }


def _dry_run(
    alert: AlertMessage,
    matching: Sequence["ChannelEntry"],
    skipped: Sequence["ChannelEntry"],
    as_json: bool,
    out: TextIO,
) -> int:
    previews = [(entry, entry.channel.preview(alert)) for entry in matching]
    if as_json:
        payload = {
            "dry_run": True,
            "alert": alert.to_dict(),
            "channels": [
                {"channel": entry.key, "type": entry.channel.kind, "preview": text}
                for entry, text in previews
            ],
            "skipped": [{"channel": e.key, "min_level": e.min_level.name} for e in skipped],
        }
        import json

        json.dump(payload, out, indent=2)
        out.write("\n")
    else:
        for entry, text in previews:
            out.write(f"--- {entry.key} ({entry.channel.kind}) would send:\n{text.rstrip()}\n")
        for entry in skipped:
            out.write(f"--- {entry.key}: skipped, takes {entry.min_level.name} and above\n")
        out.write("(dry run: nothing was sent)\n")
    return EXIT_OK if matching else EXIT_FAILED


def _manager(
    args: "argparse.Namespace", unresolved: Optional[List[UnresolvedCredentialError]] = None
) -> "AlertManager":
    import warnings

    from .config import load_config
    from .config.loader import no_channels_reason
    from .config.wiring import build_manager
    from .limits import collect_clamps
    from .manager import AlertManager

    manager = AlertManager()
    try:  # each clamp is said once, below, with the file and line it came from
        with collect_clamps(quiet=True) as clamps:
            loaded = load_config(args.config, preset=args.preset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NoChannelsWarning)  # said below, as an error
                build_manager(manager, loaded, unresolved=unresolved)
    except BaseException:
        manager.close()
        raise
    for clamp in clamps:
        line = loaded.line_of(clamp.name) if loaded.path else None
        where = f"{loaded.path}:{line}: " if line else (f"{loaded.path}: " if loaded.path else "")
        _error(f"warning: {where}{clamp}")
    if not manager.channels and not unresolved:
        manager.close()
        raise _UsageError(f"no channels: {no_channels_reason(loaded)} (see 'kstalerts check-config')")
    return manager


# -- check-config ------------------------------------------------------------


def _setup_check_config(subparsers: Any) -> None:
    parser = _command(
        subparsers,
        "check-config",
        _run_check_config,
        "show the config in effect, secrets masked, and what the limits clamped",
        (
            "Load the config as 'send' would, build every channel, and print the file used,"
            " the resolved settings with secrets masked, and every value the hard limits clamped."
        ),
        (
            "examples:\n"
            "  kstalerts check-config\n"
            "  kstalerts check-config --config /etc/kstalerts/kstlib.conf.yml --preset prod --strict\n\n"
            "exit codes: 0 valid; 1 valid but values were clamped (with --strict); 2 invalid"
        ),
    )
    _add_config_options(parser)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the hard limits clamped a value")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (secrets masked)")


def _run_check_config(args: "argparse.Namespace", out: TextIO, stdin: TextIO) -> int:
    import json
    import logging
    import warnings

    from .config import load_config
    from .config.discovery import CONFIG_NAMES, searched_places
    from .config.loader import near_miss_files, near_miss_keys, no_channels_reason
    from .config.wiring import build_manager
    from .limits import collect_clamps
    from .manager import AlertManager

    # The clamps are listed below; the limits' own warnings would repeat them.
    limits_log = logging.getLogger("kstalerts.limits")
    quiet = not args.verbose and limits_log.level < logging.ERROR
    if quiet:
        limits_log.setLevel(logging.ERROR)
    unresolved: List[UnresolvedCredentialError] = []
    manager = AlertManager()
    try:
        with collect_clamps() as clamps:
            loaded = load_config(args.config, preset=args.preset)
            # Built from the loaded config, so each clamp is reported once.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NoChannelsWarning)  # listed below
                build_manager(manager, loaded, unresolved=unresolved)
    except BaseException:
        manager.close()
        raise
    finally:
        if quiet:
            limits_log.setLevel(logging.NOTSET)
    problems: List[str] = []
    report = out
    if args.json:
        import io

        out = io.StringIO()  # the text report is built as usual, then left unprinted
    with manager:
        if loaded.path is None and args.config is None:
            names = ", ".join(CONFIG_NAMES)
            out.write(f"config file: none found, built-in defaults; searched for {names} in:\n")
            for place in searched_places():
                out.write(f"  {place}\n")
            for path, want in near_miss_files():
                problems.append(f"{path} is not read: config files are named {names} (did you mean {want}?)")
        else:
            out.write(f"config file: {loaded.path or '(a mapping)'}\n")
        for key, want in near_miss_keys(loaded.data):
            problems.append(f"top-level key {key!r} is not read: did you mean {want!r}?")
        out.write(f"preset: {loaded.preset or '(none)'}\n")
        out.write("settings (secrets masked):\n")
        for line in json.dumps(loaded.masked(), indent=2, sort_keys=False, default=str).splitlines():
            out.write(f"  {line}\n")
        skipped = f" ({len(unresolved)} more not built here: a credential is missing)" if unresolved else ""
        out.write(f"channels: {len(manager.channels)}{skipped}\n")
        for entry in manager.channels:
            out.write(f"  {_describe_entry(entry)}\n")
        for missing in unresolved:
            problems.append(f"{missing} (sending fails until it is)")
        if not manager.channels and not unresolved:
            problems.append(f"no channels: {no_channels_reason(loaded)}; 'kstalerts send' would fail")
        if manager.lifecycle is not None:
            from .cli_lifecycle import describe

            problems.extend(describe(manager.lifecycle, out))
    if clamps:
        out.write("clamped by the hard limits:\n")
        for clamp in clamps:
            where = loaded.line_of(clamp.name)
            at = f" (line {where})" if where else ""
            out.write(f"  {clamp}{at}\n")
    else:
        out.write("clamped by the hard limits: nothing\n")
    for problem in problems:
        out.write(f"warning: {problem}\n")
    code = EXIT_FAILED if clamps and args.strict else EXIT_OK
    if args.json:
        payload = {
            "ok": code == EXIT_OK,
            "config_file": loaded.path,
            "preset": loaded.preset,
            "settings": loaded.masked(),
            "channels": [_describe_entry(entry) for entry in manager.channels],
            "clamped": [
                {"clamp": str(clamp), "line": loaded.line_of(clamp.name) if loaded.path else None}
                for clamp in clamps
            ],
            "warnings": problems,
        }
        json.dump(payload, report, indent=2, default=str)
        report.write("\n")
        return code
    if code != EXIT_OK:
        return code
    out.write(f"config OK ({len(problems)} warning(s))\n" if problems else "config OK\n")
    return EXIT_OK


def _describe_entry(entry: "ChannelEntry") -> str:
    channel = entry.channel
    parts = [
        f"{entry.key}: {channel!r}",
        f"min_level {entry.min_level.name}",
        f"timeout {getattr(channel, 'timeout', '?')}s",
        f"max_retries {getattr(channel, 'max_retries', '?')}",
    ]
    if entry.throttle is not None:
        t = entry.throttle
        parts.append(f"throttle {t.rate:g}/{t.per:g}s burst {t.burst}")
    parts.append("digest " + ("on" if getattr(entry, "digest", True) else "off"))
    return ", ".join(parts)


# -- demo --------------------------------------------------------------------


def _setup_demo(subparsers: Any) -> None:
    import argparse

    _command(
        subparsers,
        "demo",
        _run_demo,
        "run a self-contained demo on loopback (no setup, no network)",
        "Start a Slack-compatible sink and an SMTP sink on 127.0.0.1, send a small storm of alerts"
        " through two channels with different levels and a throttle, and show what happened.",
        formatter=argparse.HelpFormatter,  # the text re-wrapped
    )


def _run_demo(args: "argparse.Namespace", out: TextIO, stdin: TextIO) -> int:
    from .demo import run_demo

    return run_demo(out)


# -- flush -------------------------------------------------------------------


def _setup_flush(subparsers: Any) -> None:
    import argparse

    parser = _command(
        subparsers,
        "flush",
        _run_flush,
        "send the spooled alerts again (from cron, after an outage)",
        (
            "Send again, oldest first, the alerts the spool (alerts.spool.path) kept when their"
            " delivery failed; remove what is delivered, keep what still fails, move what is too old"
            " or unreadable to the spool's dead/ folder. Channel throttles and dedup apply."
        ),
        (
            "exit codes: 0 nothing failed (throttled entries may remain); 1 some entry still fails,"
            " was dead-lettered or names a channel the config lacks; 2 usage or config error,"
            " or no spool configured"
        ),
        formatter=argparse.HelpFormatter,  # the text re-wrapped
    )
    _add_config_options(parser)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")


def _run_flush(args: "argparse.Namespace", out: TextIO, stdin: TextIO) -> int:
    from .manager import AlertManager

    with AlertManager.from_config(args.config, preset=args.preset) as manager:
        report = manager.flush_spool()
    if args.json:
        counts = {
            name: getattr(report, name)
            for name in (
                "delivered",
                "failed",
                "throttled",
                "suppressed",
                "dead",
                "skipped",
                "unknown_channel",
                "remaining",
            )
        }
        import json

        json.dump({"ok": report.ok, "spool": report.path, **counts}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"{report}\n")
    return EXIT_OK if report.ok else EXIT_FAILED


# -- run ---------------------------------------------------------------------

_RUN_EPILOG = """\
examples:
  kstalerts run --name backup -- /opt/bin/backup.sh
      alert (CRITICAL, with the last 50 lines of output) when it fails; resolve when it recovers
  kstalerts run --quiet --timeout 1h --lock -- pg_dump -f /srv/app.sql app
      cron-friendly: silent on success, SIGTERM after an hour, one run at a time
  kstalerts run --retries 2 --retry-delay 30s --channel ops --json -- curl -fsS https://example.com/ping
  kstalerts run --name nightly -- sh -c 'tar czf /srv/backup.tgz /srv/data && echo done'
      a command line with && or | runs through a shell: give it to sh -c as one argument

exit status: the job's own; 128+N when killed by signal N; 124 timed out;
126 not executable; 127 not found; 125 usage error of run (nothing ran).
An unusable config or a failed delivery never changes it (stderr says why).
"""


def _positive(text: str) -> float:
    """A duration: seconds, or with a unit (``10m``, ``1h30m``; see :mod:`kstalerts._duration`)."""
    from ._duration import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        import argparse

        raise argparse.ArgumentTypeError(str(exc)) from None


def _setup_run(subparsers: Any) -> None:
    import argparse

    from ._argparse import RunParser

    parser = _command(
        subparsers,
        "run",
        _run_run,
        "run a job; alert when it fails, resolve when it recovers (cron, systemd timers)",
        (
            "Run COMMAND (no shell) in its own process group, passing its output through and keeping"
            " the last lines; when it fails, times out, is killed or cannot start, alert the configured"
            " channels; when it succeeds after failing, send one recovery (Alertmanager and PagerDuty"
            " resolve). State per job lives in --state-dir."
        ),
        _RUN_EPILOG,
        usage="kstalerts run [options] -- COMMAND [ARG...]",
    )
    # The one parser whose errors are not exit 2 (see RunParser).
    parser.__class__ = RunParser
    parser.add_argument("--name", help="the job's name in alerts and state (default: the command's basename)")
    parser.add_argument(
        "--level", default="critical", type=_level, help="failure alerts' level (default: critical)"
    )
    parser.add_argument("--channel", metavar="KEY", help="alert this channel only (key, alias or name)")
    _add_config_options(parser)
    parser.add_argument(
        "--timeout", type=_positive, metavar="DURATION", help="SIGTERM the job after this long (90, 10m, 1h)"
    )
    parser.add_argument(
        "--kill-after", type=_positive, default=10.0, metavar="DURATION", help="then SIGKILL (default: 10s)"
    )
    parser.add_argument(
        "--retries", type=int, default=0, metavar="N", help="run again N times before failing"
    )
    parser.add_argument(
        "--retry-delay", type=_positive, default=0.0, metavar="DURATION", help="between retries"
    )
    parser.add_argument(
        "--tail-lines",
        type=int,
        default=50,
        metavar="N",
        help="lines of output kept for the alert (default: 50)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print nothing on success; the output tail on failure"
    )
    parser.add_argument(
        "--state-dir",
        metavar="PATH",
        help="job state and locks (default: $XDG_STATE_HOME/kstalerts, ~/.local/state/kstalerts;"
        " /var/lib/kstalerts for root)",
    )
    parser.add_argument(
        "--realert",
        type=_positive,
        default=3600.0,
        metavar="DURATION",
        help="while it keeps failing, alert again at most this often (default: 1h)",
    )
    parser.add_argument("--lock", action="store_true", help="one run of this job at a time")
    parser.add_argument(
        "--on-overlap", choices=("skip", "wait"), default="skip", help="with --lock (default: skip, exit 0)"
    )
    parser.add_argument(
        "--alert-after-skips", type=int, metavar="N", help="alert after N skipped runs in a row (a stuck job)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    from .cli_lifecycle import add_run_options

    add_run_options(parser)  # --heartbeat NAME --every D [--grace D]


# The options of 'run' that are run_job()'s parameters of the same name.
_JOB_OPTIONS = (
    "name config preset channel level timeout kill_after retries retry_delay tail_lines quiet state_dir"
    " realert lock on_overlap alert_after_skips"
).split()


def _run_run(args: "argparse.Namespace", out: TextIO, stdin: TextIO) -> int:
    from .jobs.run import EXIT_RUN_ERROR, run_job

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    from .cli_lifecycle import connect, declare_heartbeat, ping_after_run

    connect(config_options=_add_config_options, manager=_manager, exit_code=exit_code)
    try:
        declare_heartbeat(args)
        options = {name: getattr(args, name) for name in _JOB_OPTIONS}
        result = run_job(command, stdout=getattr(out, "buffer", None), **options)
    except AlertConfigurationError as exc:
        _error(f"run: error: {exc}")
        return EXIT_RUN_ERROR
    ping_after_run(args, result.exit_code, out)
    if args.json:
        import json

        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    return result.exit_code


def _setup_lifecycle(subparsers: Any) -> None:
    from .cli_lifecycle import setup  # resolve, silence, alerts, tick, heartbeat

    setup(subparsers, config_options=_add_config_options, manager=_manager, exit_code=exit_code)


def _setup_init(subparsers: Any) -> None:
    from .commands import init

    init.setup(_adder(subparsers))


def _setup_unit_failed(subparsers: Any) -> None:
    from .commands import systemd

    systemd.setup(_adder(subparsers))


def _setup_pyz(subparsers: Any) -> None:
    from .commands import pyz

    pyz.setup(_adder(subparsers))


def _setup_shell(subparsers: Any) -> None:
    from .commands import shell

    shell.setup(_adder(subparsers), build_parser)  # walks the whole parser


# The subcommands, in --help order: the names each setup adds, and the setup
# (those of kstalerts.commands and the lifecycle import their module only
# when their parser is built).
_SUBCOMMANDS: Sequence[Tuple[Tuple[str, ...], Callable[[Any], None]]] = (
    (("send",), _setup_send),
    (("check-config",), _setup_check_config),
    (("flush",), _setup_flush),
    (("run",), _setup_run),
    (("demo",), _setup_demo),
    (("resolve", "silence", "alerts", "tick", "heartbeat"), _setup_lifecycle),
    (("init",), _setup_init),
    (("unit-failed",), _setup_unit_failed),
    (("pyz",), _setup_pyz),
    (("completion", "man"), _setup_shell),
)


def build_parser(only: Optional[str] = None) -> "argparse.ArgumentParser":
    """The argument parser of the ``kstalerts`` command; with ``only`` (a
    subcommand's name), the parser of that subcommand alone is set up."""
    import argparse

    from ._argparse import Formatter

    parser = argparse.ArgumentParser(
        prog="kstalerts",
        description="Send alerts to Slack, email and other channels, from scripts and cron jobs.",
        epilog=_EXAMPLES,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"kstalerts {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the library does (to stderr)")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for names, setup in _SUBCOMMANDS:
        if only is None or only in names:
            setup(subparsers)
    for sub in subparsers.choices.values():  # -v after the subcommand too
        if "-v" not in sub._option_string_actions:
            sub.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log each attempt"
            )
    return parser


def _chosen(argv: Sequence[str]) -> Optional[str]:
    """The subcommand ``argv`` names, when it is a known one (its parser is
    then the only one built), else ``None``."""
    for arg in argv:
        if arg in ("-v", "--verbose"):
            continue
        if arg.startswith("-"):
            return None  # --help, --version, or a usage error: the full parser says it
        return arg if any(arg in names for names, _ in _SUBCOMMANDS) else None
    return None


def _check_options(parser: "argparse.ArgumentParser", argv: Sequence[str]) -> None:
    """Name an unknown option, with the closest known one, before argparse
    reports something else (a missing --title) instead.

    Stops at ``--`` and at the first argument that is not an option or an
    option's value (a command ``run`` wraps is not checked).
    """
    import argparse

    current = parser
    expects_value = False
    subcommands: Dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subcommands = dict(action.choices)
    for arg in argv:
        if expects_value:
            expects_value = False
            continue
        if arg == "--":
            return
        if not arg.startswith("-") or arg == "-":
            if current is parser and arg in subcommands:
                current = subcommands[arg]
                continue
            return
        name = arg.split("=", 1)[0]
        known = current._option_string_actions
        matches = [o for o in known if o == name] or [
            o for o in known if name.startswith("--") and o.startswith(name)
        ]
        if not matches:
            import difflib  # only for a wrong option

            # Compared without the dashes they all share, so --bogus is not "close" to --verbose.
            longs = {o[2:]: o for o in known if o.startswith("--")}
            close = difflib.get_close_matches(name.lstrip("-"), list(longs), n=1, cutoff=0.6)
            where = f" for '{current.prog}'" if current is not parser else ""
            hint = f"; did you mean {longs[close[0]]}?" if close else f"; see '{current.prog} --help'"
            current.error(f"unknown option {name}{where}{hint}")
        action = known[matches[0]]
        expects_value = "=" not in arg and action.nargs != 0 and len(set(known[m] for m in matches)) == 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _error(message: str) -> None:
    sys.stderr.write(f"kstalerts: {message}\n")


def script() -> None:
    """The ``kstalerts`` command (the console script, ``python -m kstalerts``
    and the zipapp): :func:`main`, then the end of the process.

    When ``main`` returns, the command's work is done and accounted for:
    the manager is closed (its pools joined, what failed spooled), the
    results are written. What the interpreter would still do is its
    teardown, freeing every module and object one by one: about a tenth of
    a cold ``send``, paid by every cron line for nothing. So the process ends
    there (:func:`os._exit`) once the atexit handlers have run (logging's
    flush among them) and the standard streams are flushed, whenever that is
    safe; otherwise it exits as usual (:func:`_end_now`). Only when
    kstalerts is the program: called from a program of its own (a test, a
    profiler, ``runpy.run_module`` in someone's script), it raises
    :class:`SystemExit` as ``sys.exit`` does, and the caller goes on.
    """
    code = main()
    if _is_the_program(sys._getframe(1)):
        _end_now(code)
    sys.exit(code)


def _is_the_program(caller: Any) -> bool:
    """Whether ``caller`` (the frame that called :func:`script`) is the
    program's own code: nothing but ``runpy`` (``python -m``, a zipapp)
    below it on the stack."""
    below = caller.f_back
    while below is not None and below.f_globals.get("__name__") == "runpy":
        below = below.f_back
    return below is None


def _end_now(code: int) -> None:
    """End the process with ``code``, skipping the interpreter's teardown;
    return (the caller exits as usual) when that could lose something:

    - another thread is alive (the usual exit waits for a non-daemon one);
    - a tracer, profiler or debugger is attached (``coverage run``,
      ``cProfile``, ``pdb``), which writes its results after the program;
    - a standard stream does not flush (a closed pipe: the usual exit says so
      and sets its status).

    (:func:`script` asks first whether kstalerts is the program at all.)
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    monitoring = getattr(sys, "monitoring", None)  # 3.12+: tools without a trace function
    if sys.gettrace() is not None or sys.getprofile() is not None or (
        monitoring is not None and any(monitoring.get_tool(tool) is not None for tool in range(6))
    ):
        return
    import atexit

    atexit._run_exitfuncs()  # run once: the list is empty afterwards, should the usual exit follow
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:  # a closed pipe, a stand-in stream: the usual exit deals with it
        return
    os._exit(code)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    given = sys.argv[1:] if argv is None else list(argv)
    args = _plain_send(given)
    if args is None:
        parser = build_parser(_chosen(given))
        try:
            _check_options(parser, given)
            args = parser.parse_args(given)
        except SystemExit as exc:  # --help, --version, or a usage error (code 2)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
    installed: List[Any] = []  # (logger, handler, its level before)

    def log_to_stderr() -> None:  # logging is imported when there is something to log
        import logging

        log = logging.getLogger("kstalerts")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("kstalerts: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        previous = log.level
        log.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
        installed.append((log, handler, previous))

    if args.verbose:
        log_to_stderr()
    else:
        _log.when_used(log_to_stderr)
    try:
        run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
        return run(args, sys.stdout, sys.stdin)
    except (AlertConfigurationError, _UsageError) as exc:
        _error(f"error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``kstalerts demo | head``): stop quietly, and
        # keep the interpreter from complaining when it flushes stdout at exit.
        _silence_stdout()
        return EXIT_FAILED
    except OSError as exc:  # e.g. a config path that is a directory
        _error(f"error: {exc}")
        return EXIT_USAGE
    finally:
        _log.when_used(None)
        for log, handler, previous in installed:
            log.removeHandler(handler)
            log.setLevel(previous)
