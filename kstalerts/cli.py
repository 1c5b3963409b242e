"""The ``kstalerts`` command line: send, check-config, flush, demo.

Built for cron jobs and shell scripts, so the exit code is the contract:

    0  every channel the alert was meant for delivered it
    1  some channel failed or was throttled, or no channel takes that level
    2  usage or configuration error (nothing was sent)

Each subcommand is a pair of functions, ``_setup_<name>`` (its arguments)
and ``_run_<name>`` (what it does, returning the exit code), listed in
:data:`_SUBCOMMANDS`; a new subcommand is one more pair. Heavy modules
(the channels, the demo's servers) load only in the subcommand that uses
them, so ``kstalerts --help`` is instant.
"""

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, TextIO

from . import __version__
from .exceptions import AlertConfigurationError
from .limits import MAX_BODY_CHARS
from .models import AlertLevel, AlertMessage, AlertResult

if TYPE_CHECKING:
    from .manager import AlertManager, ChannelEntry

__all__ = ("main", "build_parser", "exit_code", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

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


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: discovered)")
    parser.add_argument(
        "--preset", metavar="NAME", help="config preset to apply (default: $KSTALERTS_PRESET)"
    )


# -- send ------------------------------------------------------------------


def _setup_send(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send one alert to the configured channels",
        description="Send one alert to every configured channel whose min_level it reaches.",
        epilog=(
            "examples:\n"
            '  kstalerts send --title "Backup failed" --body "exit code 2"\n'
            '  tail -n 40 job.log | kstalerts send --title "job failed" --body - --level warning\n'
            '  kstalerts send --title "Disk 91%" --channel ops --json\n'
            "  kstalerts send --title test --dry-run --config ./kstlib.conf.yml\n\n"
            "exit codes: 0 every matching channel delivered; 1 any failed or was throttled,\n"
            "or no channel takes this level; 2 usage or config error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--title", required=True, help="the alert's title (one line)")
    parser.add_argument("--body", default="", help="the alert's text; '-' reads it from stdin")
    parser.add_argument(
        "--level",
        default="critical",
        type=_level,
        help="info, warning or critical (default: critical)",
    )
    parser.add_argument("--channel", metavar="KEY", help="send to this channel only (key, alias or name)")
    _add_config_options(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what each channel would send; send nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=_run_send)


def _level(text: str) -> AlertLevel:
    try:
        return AlertLevel.parse(text)
    except AlertConfigurationError as exc:
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


def _run_send(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    alert = AlertMessage(args.title, _read_body(args.body, stdin), args.level)
    manager = _manager(args)
    with manager:
        targets = _targets(manager, args.channel)
        matching = [entry for entry in targets if alert.level >= entry.min_level]
        skipped = [entry for entry in targets if alert.level < entry.min_level]
        if args.dry_run:
            return _dry_run(alert, matching, skipped, args.json, out)
        results = manager.send(alert, channel=args.channel) if matching else []
    code = exit_code(results)
    ok = code == EXIT_OK
    if args.json:
        json.dump(
            {"ok": ok, "alert": alert.to_dict(), "results": [_result_dict(r) for r in results]},
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for result in results:
            out.write(f"{result}\n")
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
    if results and all(r.success or r.suppressed for r in results):
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
        json.dump(payload, out, indent=2)
        out.write("\n")
    else:
        for entry, text in previews:
            out.write(f"--- {entry.key} ({entry.channel.kind}) would send:\n{text.rstrip()}\n")
        for entry in skipped:
            out.write(f"--- {entry.key}: skipped, takes {entry.min_level.name} and above\n")
        out.write("(dry run: nothing was sent)\n")
    return EXIT_OK if matching else EXIT_FAILED


def _manager(args: argparse.Namespace) -> "AlertManager":
    from .manager import AlertManager

    manager = AlertManager.from_config(args.config, preset=args.preset)
    if not manager.channels:
        manager.close()
        where = f"in {args.config}" if args.config else "(no config file found)"
        raise _UsageError(
            f"no channels configured {where}; pass --config PATH or set KSTALERTS_CONFIG"
            " (see 'kstalerts check-config')"
        )
    return manager


def _targets(manager: "AlertManager", target: Optional[str]) -> List["ChannelEntry"]:
    entries = list(manager.channels)
    if target is None:
        return entries
    for found in (
        [e for e in entries if e.key == target],
        [e for e in entries if e.alias == target],
        [e for e in entries if e.channel.name == target],
    ):
        if found:
            return found[:1]
    known = ", ".join(sorted(e.key for e in entries))
    raise AlertConfigurationError(f"unknown channel {target!r}; known channels: {known}")


# -- check-config ------------------------------------------------------------


def _setup_check_config(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="show the config in effect, secrets masked, and what the limits clamped",
        description=(
            "Load the config as 'send' would, build every channel, and print the file used,"
            " the resolved settings with secrets masked, and every value the hard limits clamped."
        ),
        epilog=(
            "examples:\n"
            "  kstalerts check-config\n"
            "  kstalerts check-config --config /etc/kstalerts/kstlib.conf.yml --preset prod --strict\n\n"
            "exit codes: 0 valid; 1 valid but values were clamped (with --strict); 2 invalid"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_options(parser)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the hard limits clamped a value")
    parser.set_defaults(run=_run_check_config)


def _run_check_config(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from .config import load_config
    from .limits import collect_clamps
    from .manager import AlertManager

    # The clamps are listed below; the limits' own warnings would repeat them.
    limits_log = logging.getLogger("kstalerts.limits")
    quiet = not args.verbose and limits_log.level < logging.ERROR
    if quiet:
        limits_log.setLevel(logging.ERROR)
    try:
        with collect_clamps() as clamps:
            loaded = load_config(args.config, preset=args.preset)
            # Built from the loaded config, so each clamp is reported once.
            source: Any = loaded
            manager = AlertManager.from_config(source)
    finally:
        if quiet:
            limits_log.setLevel(logging.NOTSET)
    with manager:
        out.write(f"config file: {loaded.path or '(none found: built-in defaults)'}\n")
        out.write(f"preset: {loaded.preset or '(none)'}\n")
        out.write("settings (secrets masked):\n")
        for line in json.dumps(loaded.masked(), indent=2, sort_keys=False, default=str).splitlines():
            out.write(f"  {line}\n")
        out.write(f"channels: {len(manager.channels)}\n")
        for entry in manager.channels:
            out.write(f"  {_describe_entry(entry)}\n")
    if clamps:
        out.write("clamped by the hard limits:\n")
        for clamp in clamps:
            where = loaded.line_of(clamp.name)
            at = f" (line {where})" if where else ""
            out.write(f"  {clamp}{at}\n")
    else:
        out.write("clamped by the hard limits: nothing\n")
    if clamps and args.strict:
        return EXIT_FAILED
    out.write("config OK\n")
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
    return ", ".join(parts)


# -- demo --------------------------------------------------------------------


def _setup_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a self-contained demo on loopback (no setup, no network)",
        description=(
            "Start a Slack-compatible sink and an SMTP sink on 127.0.0.1, send a small storm of alerts"
            " through two channels with different levels and a throttle, and show what happened."
        ),
    )
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from .demo import run_demo

    return run_demo(out)


# -- flush -------------------------------------------------------------------


def _setup_flush(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "flush",
        help="send the spooled alerts again (from cron, after an outage)",
        description=(
            "Send again, oldest first, the alerts the spool (alerts.spool.path) kept when their"
            " delivery failed; remove what is delivered, keep what still fails, move what is too old"
            " or unreadable to the spool's dead/ folder. Channel throttles and dedup apply."
        ),
        epilog=(
            "exit codes: 0 nothing failed (throttled entries may remain); 1 some entry still fails,"
            " was dead-lettered or names a channel the config lacks; 2 usage or config error,"
            " or no spool configured"
        ),
    )
    _add_config_options(parser)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.set_defaults(run=_run_flush)


def _run_flush(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
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
        json.dump({"ok": report.ok, "spool": report.path, **counts}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"{report}\n")
    return EXIT_OK if report.ok else EXIT_FAILED


# The subcommands, in --help order.
_SUBCOMMANDS: Sequence[Callable[[Any], None]] = (_setup_send, _setup_check_config, _setup_flush, _setup_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kstalerts`` command."""
    parser = argparse.ArgumentParser(
        prog="kstalerts",
        description="Send alerts to Slack, email and other channels, from scripts and cron jobs.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kstalerts {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the library does (to stderr)")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for setup in _SUBCOMMANDS:
        setup(subparsers)
    return parser


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _error(message: str) -> None:
    sys.stderr.write(f"kstalerts: {message}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (code 2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    log = logging.getLogger("kstalerts")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kstalerts: %(levelname)s: %(message)s"))
    log.addHandler(handler)
    previous = log.level
    log.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
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
        log.removeHandler(handler)
        log.setLevel(previous)
