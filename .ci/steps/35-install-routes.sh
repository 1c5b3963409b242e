#!/usr/bin/env bash
# Every install route of docs/install.md, run exactly as written, on every
# Python each route names (3.6's bundled pip 18.1 included): see
# .ci/install_routes.py. 30-offline-install.sh checks what the wheel and
# the sdist hold; this one checks what the documentation tells users to type.
# Run by .ci/run with bash -euo pipefail from the repository root.
set -euo pipefail
python3 .ci/install_routes.py --list
python3 .ci/install_routes.py --jobs "${ROUTE_JOBS:-2}"
