#!/usr/bin/env bash
# The full suite on every Python between 3.9 and 3.12 this machine has
# (.ci/run already covers 3.6, 3.7, 3.8 and 3.13). A version that is missing is
# named, not silently skipped. Time-bounded so CI stays within its 90
# minutes: each version gets at most PER_PYTHON_TIMEOUT seconds, and once
# MORE_PYTHONS_BUDGET seconds are spent, the versions not yet started are
# reported as skipped. A failing or timed-out suite fails the step.
# Run by .ci/run with bash -euo pipefail from the repository root.
set -euo pipefail
ROOT="$PWD"
BUDGET="${MORE_PYTHONS_BUDGET:-1500}"
PER_PYTHON="${PER_PYTHON_TIMEOUT:-600}"
PYENV_VERSIONS="${PYENV_ROOT:-/root/.pyenv}/versions"
start=$SECONDS
ran=() missing=() skipped=() failed=()

find_python() {  # newest patch release of 3.N: pyenv first, then the system
  local want="$1" py
  py="$(ls -d "$PYENV_VERSIONS/$want".*/bin/python 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$py" ] && [ -x "/usr/bin/python$want" ]; then py="/usr/bin/python$want"; fi
  [ -n "$py" ] && [ -x "$py" ] && echo "$py"
  return 0
}

for want in 3.9 3.10 3.11 3.12; do
  py="$(find_python "$want")"
  if [ -z "$py" ]; then
    echo "---- Python $want: NOT AVAILABLE on this machine, suite not run on it"
    missing+=("$want")
    continue
  fi
  version="$("$py" --version 2>&1)"
  if [ -x "$ROOT/.venv/bin/python" ] && [ "$("$ROOT/.venv/bin/python" --version 2>&1)" = "$version" ]; then
    echo "---- $version: the main suite already ran on it (.venv), not run again"
    ran+=("$version (main suite)")
    continue
  fi
  used=$((SECONDS - start))
  left=$((BUDGET - used))
  if [ "$left" -lt 60 ]; then
    echo "---- Python $want: SKIPPED, time budget of ${BUDGET}s spent (${used}s used)"
    skipped+=("$want")
    continue
  fi
  limit=$((left < PER_PYTHON ? left : PER_PYTHON))
  echo "---- $version ($py), at most ${limit}s"
  venv="$ROOT/.venv-$want"
  t0=$SECONDS
  if ! "$py" -m venv "$venv"; then
    echo "---- $version: cannot create a venv (no venv/ensurepip module), suite not run on it"
    missing+=("$version (no venv module)")
    continue
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check -e ".[test]"; then
    echo "FAIL: pip could not install the package and its test extra on $version"
    failed+=("$version (install)")
    continue
  fi
  set +e
  timeout --kill-after=10 "$limit" "$venv/bin/python" -m pytest -q -p no:cacheprovider -n 4
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    ran+=("$version ($((SECONDS - t0))s)")
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL: the suite on $version did not finish within ${limit}s"
    failed+=("$version (timeout)")
  else
    failed+=("$version (pytest exit $rc)")
  fi
done

echo
echo "Pythons 3.9-3.12 that ran the suite: ${ran[*]:-none}"
[ ${#missing[@]} -eq 0 ] || echo "missing on this machine: ${missing[*]}"
[ ${#skipped[@]} -eq 0 ] || echo "skipped for time: ${skipped[*]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED on: ${failed[*]}"
  exit 1
fi
