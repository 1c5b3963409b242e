#!/usr/bin/env bash
# `import kstalerts` stays cheap: no typing, logging, ssl, http.client, email,
# no config or channel module, and the CLI, the manager and the Slack channel
# load no typing (.ci/import_smoke.py lists them), on the CI
# Python and on 3.6, the oldest supported. A missing 3.6 fails the step under
# CI=true. Run by .ci/run from the repository root.
set -euo pipefail
PY="$PWD/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
PY36="$(ls -d "${PYENV_ROOT:-/root/.pyenv}"/versions/3.6.*/bin/python 2>/dev/null | sort -V | tail -1 || true)"
pythons=("$PY")
if [ -n "$PY36" ]; then
  pythons+=("$PY36")
elif [ "${CI:-}" = "true" ]; then
  echo "Python 3.6 is not installed: the import smoke cannot check it" >&2
  exit 1
else
  echo "Python 3.6 not found: checked on $("$PY" --version 2>&1) only"
fi
"$PY" .ci/import_smoke.py "${pythons[@]}"
