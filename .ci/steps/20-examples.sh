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

# A job that succeeds: no alert, exit 0.
PYTHON="$PY" run bash examples/cron_wrapper.sh ok-job true
# A job that fails: one alert delivered, and the job's own exit code.
set +e
out="$(PYTHON="$PY" timeout 60 bash examples/cron_wrapper.sh failing-job sh -c 'echo copying; echo "No space left on device" >&2; exit 3')"
status=$?
set -e
echo "$out"
[ "$status" -eq 3 ] || { echo "cron_wrapper.sh exited $status, expected the job's 3"; exit 1; }
grep -q '^ops: delivered' <<<"$out" || { echo "cron_wrapper.sh did not deliver its alert"; exit 1; }

# The demo, with its wall time.
start="$(date +%s.%N)"
run "$PY" -m kstalerts demo
end="$(date +%s.%N)"
elapsed="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
echo "demo wall time: ${elapsed}s"
awk -v t="$elapsed" 'BEGIN { exit !(t < 5.0) }' || { echo "the demo took ${elapsed}s, more than 5s"; exit 1; }
