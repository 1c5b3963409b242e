#!/usr/bin/env bash
# Offline install: build a wheel and an sdist, install the wheel with
# `pip install --no-index` (no registry at all) into a fresh virtual
# environment, and run the installed `kstalerts --version` and `kstalerts
# demo` (loopback only) from outside the checkout; then the same wheel in a
# Python 3.6 environment (the oldest supported; missing, the step fails).
# Run by .ci/run with bash -euo pipefail from the repository root.
set -euo pipefail
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kstalerts-offline.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# -- build (the only step that may reach the package registry: build deps) --
if "$PY" -m build --version >/dev/null 2>&1 || "$PY" -m pip install -q build; then
  # no --sdist/--wheel: the wheel is built from the sdist, which proves the sdist complete
  echo "+ python -m build"
  "$PY" -m build --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; echo "FAIL: python -m build"; exit 1; }
else
  echo "'build' not available; falling back to pip wheel (no sdist)"
  "$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$ROOT"
fi
ls -l "$WORK/dist"
wheel="$(ls "$WORK"/dist/kstalerts-*.whl)"
sdist="$(ls "$WORK"/dist/kstalerts-*.tar.gz 2>/dev/null || true)"

# -- what the wheel holds: the package and py.typed, no tests/benchmarks --
"$PY" - "$wheel" <<'PYCODE'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
top = sorted({n.split("/")[0] for n in names})
assert "kstalerts/py.typed" in names, "py.typed missing from the wheel"
assert "kstalerts/__init__.py" in names
stray = [t for t in top if not (t == "kstalerts" or t.endswith(".dist-info"))]
assert not stray, f"unexpected top-level entries in the wheel: {stray}"
meta = [n for n in names if n.endswith(".dist-info/METADATA")][0]
requires = [l for l in zipfile.ZipFile(sys.argv[1]).read(meta).decode().splitlines()
            if l.startswith("Requires-Dist:") and "extra ==" not in l]
assert not requires, f"runtime dependencies declared: {requires}"
print(f"wheel: {len(names)} files, top level {top}, no runtime dependency")
PYCODE
if [ -n "$sdist" ]; then
  listing="$(tar -tzf "$sdist")"
  for want in kstalerts/__init__.py kstalerts/py.typed setup.cfg pyproject.toml README.md; do
    grep -qx "kstalerts-[^/]*/$want" <<<"$listing" || { echo "FAIL: sdist lacks $want"; exit 1; }
  done
  echo "sdist: $(basename "$sdist"), $(wc -l <<<"$listing") entries"
fi

# -- install with no index into a fresh venv, run from elsewhere --
python_for_venv="$(command -v python3)"
"$python_for_venv" -m venv "$WORK/venv"
echo "+ pip install --no-index $(basename "$wheel")"
"$WORK/venv/bin/pip" install -q --no-index --disable-pip-version-check "$wheel"
cd "$WORK"  # not the checkout: the installed copy must be the one that runs
unset PYTHONPATH
where="$("$WORK/venv/bin/python" -c 'import kstalerts; print(kstalerts.__file__)')"
case "$where" in "$WORK/venv/"*) ;; *) echo "FAIL: imported kstalerts from $where"; exit 1 ;; esac
expected="$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import kstalerts; print(kstalerts.__version__)' "$ROOT")"
got="$("$WORK/venv/bin/kstalerts" --version)"
echo "kstalerts --version: $got"
[ "$got" = "kstalerts $expected" ] || { echo "FAIL: expected 'kstalerts $expected'"; exit 1; }
echo "+ kstalerts demo"
set +e
demo="$(timeout --kill-after=5 60 "$WORK/venv/bin/kstalerts" demo 2>&1)"
rc=$?
set -e
printf '%s\n' "$demo" | sed 's/^/    /'
[ "$rc" -eq 0 ] || { echo "FAIL: 'kstalerts demo' exited $rc"; exit 1; }
grep -q "failed 0" <<<"$demo" || { echo "FAIL: the demo reports failed deliveries"; exit 1; }
echo "offline install OK: $(basename "$wheel") installed with --no-index; 'kstalerts --version' and 'kstalerts demo' ran"

# -- the same wheel on Python 3.6, the oldest supported Python --
py36="$(ls -d "${PYENV_ROOT:-/root/.pyenv}"/versions/3.6.*/bin/python 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$py36" ] || py36="$(command -v python3.6 || true)"
[ -n "$py36" ] || { echo "FAIL: no Python 3.6 on this machine to install the wheel into"; exit 1; }
"$py36" -m venv "$WORK/venv36"
echo "+ $("$py36" --version 2>&1): pip install --no-index $(basename "$wheel")"
"$WORK/venv36/bin/pip" install -q --no-index --disable-pip-version-check "$wheel"
where="$("$WORK/venv36/bin/python" -c 'import kstalerts; print(kstalerts.__file__)')"
case "$where" in "$WORK/venv36/"*) ;; *) echo "FAIL: Python 3.6 imported kstalerts from $where"; exit 1 ;; esac
echo "+ kstalerts demo (Python 3.6)"
set +e
demo="$(timeout --kill-after=5 60 "$WORK/venv36/bin/kstalerts" demo 2>&1)"
rc=$?
set -e
printf '%s\n' "$demo" | sed 's/^/    /'
[ "$rc" -eq 0 ] || { echo "FAIL: 'kstalerts demo' on Python 3.6 exited $rc"; exit 1; }
grep -q "failed 0" <<<"$demo" || { echo "FAIL: the demo on Python 3.6 reports failed deliveries"; exit 1; }
echo "offline install on $("$py36" --version 2>&1) OK: the wheel installed with --no-index; 'kstalerts demo' exited 0"
