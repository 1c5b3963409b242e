#!/usr/bin/env bash
# Run every example and the demo against the loopback sinks, each with a
# time bound; the demo must also finish in under 5 seconds.
set -euo pipefail
PY="${PY:-.venv/bin/python}"
# The examples fall back to loopback sinks only when these are unset.
unset SLACK_WEBHOOK_URL SMTP_HOST KSTALERTS_CONFIG KSTALERTS_PRESET

run() {
  echo "+ $*"
  timeout 60 "$@"
}

for example in slack_basic email_basic multi_channel logging_handler; do
  run "$PY" "examples/$example.py"
done

# kstalerts run (examples/crontab) against a loopback Slack sink and a
# throwaway config: a job that succeeds sends nothing and exits 0; a job that
# fails sends one alert and exits with its own status.
work="$(mktemp -d)"
"$PY" -m kstalerts.net.loopback http --lifetime 120 >"$work/sink-url" &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/sink-url" ] && break; sleep 0.1; done
url="$(head -n 1 "$work/sink-url")"
[ -n "$url" ] || { echo "the loopback sink did not start"; exit 1; }
printf 'alerts:\n  channels:\n    ops:\n      type: slack\n      webhook_url: %s\n      allow_custom_url: true\n' \
  "$url" >"$work/kstlib.conf.yml"
kst_run=("$PY" -m kstalerts run --config "$work/kstlib.conf.yml" --state-dir "$work/state")
run "${kst_run[@]}" --name ok-job -- true
set +e
out="$(timeout 60 "${kst_run[@]}" --name failing-job --json --quiet -- sh -c 'echo copying; echo "No space left on device" >&2; exit 3')"
status=$?
set -e
echo "$out"
[ "$status" -eq 3 ] || { echo "kstalerts run exited $status, expected the job's 3"; exit 1; }
grep -q '"alerts_sent": 1' <<<"$out" || { echo "kstalerts run did not deliver its alert"; exit 1; }

# The demo, with its wall time.
start="$(date +%s.%N)"
run "$PY" -m kstalerts demo
end="$(date +%s.%N)"
elapsed="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
echo "demo wall time: ${elapsed}s"
awk -v t="$elapsed" 'BEGIN { exit !(t < 5.0) }' || { echo "the demo took ${elapsed}s, more than 5s"; exit 1; }
