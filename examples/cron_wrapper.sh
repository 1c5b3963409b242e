#!/usr/bin/env bash
# Run a job from cron; when it fails, send a CRITICAL alert with the tail of
# its output, and exit with the job's own exit code.
#
#   cron_wrapper.sh JOB_NAME COMMAND [ARGS...]
#   # crontab:  15 2 * * *  /opt/bin/cron_wrapper.sh nightly-backup /opt/bin/backup.sh
#
# Channels come from the kstalerts config: $KSTALERTS_CONFIG or the usual
# discovery (./kstlib.conf.yml, ~/.config/kstalerts/, /etc/kstalerts/).
# Without $KSTALERTS_CONFIG, this example writes a throwaway config with one
# Slack channel: the webhook in $SLACK_WEBHOOK_URL if set, else a Slack-
# compatible sink it starts on 127.0.0.1, so it runs anywhere.
# Set PYTHON to the interpreter that has kstalerts (default: python3).
set -uo pipefail

PYTHON="${PYTHON:-python3}"
job="${1:?usage: cron_wrapper.sh JOB_NAME COMMAND [ARGS...]}"
shift
[ $# -gt 0 ] || { echo "usage: cron_wrapper.sh JOB_NAME COMMAND [ARGS...]" >&2; exit 2; }

work="$(mktemp -d)"
sink_pid=""
config_args=()
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${KSTALERTS_CONFIG:-}" ]; then
  any_host=false
  if [ -z "${SLACK_WEBHOOK_URL:-}" ]; then
    "$PYTHON" -m kstalerts._loopback http --lifetime 120 >"$work/sink-url" &
    sink_pid=$!
    for _ in $(seq 50); do [ -s "$work/sink-url" ] && break; sleep 0.1; done
    SLACK_WEBHOOK_URL="$(head -n 1 "$work/sink-url")"
    [ -n "$SLACK_WEBHOOK_URL" ] || { echo "cron_wrapper: the loopback sink did not start" >&2; exit 2; }
    export SLACK_WEBHOOK_URL
    any_host=true
    echo "cron_wrapper: no KSTALERTS_CONFIG; alerting a loopback Slack sink"
  fi
  cat >"$work/kstlib.conf.json" <<JSON
{
  "alerts": {"channels": {"ops": {"type": "slack", "credentials": "slack_webhook", "allow_custom_url": $any_host}}},
  "credentials": {"slack_webhook": {"type": "env", "var": "SLACK_WEBHOOK_URL"}}
}
JSON
  config_args=(--config "$work/kstlib.conf.json")
fi

# Run the job, keeping its output (stdout and stderr together) for the alert.
"$@" >"$work/output" 2>&1
status=$?
cat "$work/output"

if [ "$status" -ne 0 ]; then
  { echo "\$ $*"; echo "exit code $status on $(hostname) at $(date -u '+%Y-%m-%d %H:%M:%S UTC')"; echo "last lines of output:";
    tail -n 40 "$work/output"; } |
    "$PYTHON" -m kstalerts send "${config_args[@]}" --title "cron: $job failed (exit $status)" --body - --level critical
  alert_status=$?
  # 0 delivered, 1 a channel failed, 2 config error: say so where cron mails it.
  [ "$alert_status" -eq 0 ] || echo "cron_wrapper: the alert was not delivered (kstalerts exit $alert_status)" >&2
fi
exit "$status"
