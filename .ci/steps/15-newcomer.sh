#!/usr/bin/env bash
# The first hour of a newcomer, as the README tells it: clone, run the demo
# and every example from the plain checkout (nothing installed), check the
# shipped config without its secret, then install from the checkout into a
# fresh virtual environment and run the installed command.
# Run by .ci/run with bash -euo pipefail from the repository root.
set -euo pipefail
ROOT="$PWD"
PY="$(command -v python3)"  # a plain interpreter: kstalerts must not be importable from it
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kstalerts-newcomer.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
unset PYTHONPATH SLACK_WEBHOOK_URL SMTP_HOST KSTALERTS_CONFIG KSTALERTS_PRESET KSTALERTS_NO_DISCOVERY

step() { printf -- '-- %s\n' "$*"; }
fail() { echo "FAIL: $*"; exit 1; }

step "git clone"
git clone -q "$ROOT" "$WORK/kstalerts"
CLONE="$WORK/kstalerts"
ELSEWHERE="$WORK/elsewhere"  # an empty folder, not the checkout
mkdir "$ELSEWHERE"
cd "$CLONE"
if (cd "$ELSEWHERE" && "$PY" -c 'import kstalerts' 2>/dev/null); then
  fail "$PY already imports kstalerts: the checkout would not be what runs"
fi

step "the demo, from the checkout (README: python3 -m kstalerts demo)"
demo="$(timeout 60 "$PY" -m kstalerts demo)"
grep -q "^demo OK" <<<"$demo" || { echo "$demo"; fail "the demo did not say demo OK"; }
next="$(grep -o "Next: '[^']*'" <<<"$demo")"
echo "$next"
if ! command -v kstalerts >/dev/null 2>&1; then
  [ "$next" = "Next: 'python3 -m kstalerts send --help'" ] || fail "the demo's next step does not work here"
fi
"$PY" -m kstalerts send --help >/dev/null || fail "python3 -m kstalerts send --help"

step "every example, from the checkout and from another folder"
for example in examples/*.py; do
  echo "+ python3 $example"
  timeout 60 "$PY" "$example" >"$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; fail "$example"; }
  (cd "$ELSEWHERE" && timeout 60 "$PY" "$CLONE/$example" >"$WORK/out.txt" 2>&1) \
    || { cat "$WORK/out.txt"; fail "$example from $ELSEWHERE"; }
done

step "check-config of the shipped kstlib.conf.yml, without SLACK_WEBHOOK_URL"
check="$("$PY" -m kstalerts check-config --config kstlib.conf.yml)" || { echo "$check"; fail "check-config exited non-zero"; }
grep -q "SLACK_WEBHOOK_URL is not set" <<<"$check" || { echo "$check"; fail "no warning naming SLACK_WEBHOOK_URL"; }
tail -1 <<<"$check"
"$PY" -m kstalerts send --title newcomer --dry-run --config kstlib.conf.yml >/dev/null \
  || fail "send --dry-run of the shipped config"

step "pip install /path/to/checkout into a fresh venv"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "$CLONE" \
  || fail "pip install $CLONE (the README's install step)"
cd "$ELSEWHERE"
"$WORK/venv/bin/kstalerts" --version
installed="$(PATH="$WORK/venv/bin:$PATH" timeout 60 kstalerts demo)"
grep -q "Next: 'kstalerts send --help'" <<<"$installed" || { echo "$installed"; fail "installed demo"; }
PATH="$WORK/venv/bin:$PATH" kstalerts check-config --config "$CLONE/kstlib.conf.yml" >/dev/null
echo "newcomer walk-through OK"
