#!/usr/bin/env bash
# Install what is missing, then run every check: lint, types, unit and API tests
# (SQLite and PostgreSQL), integration tests (real QEMU), and the interop (tempest) run
# with its ratchet.
# Usage: ./test.sh [--quick]   (--quick skips the tempest run)
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup-env.sh --test
echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest (unit, api, security, dashboard: ${ONESTACK_TEST_WORKERS:-2} workers)"
# Each worker has its own clouds (SQLite and PostgreSQL), browser and temp dirs; ports are
# picked free. ONESTACK_TEST_WORKERS=0 runs them in this process.
.venv/bin/pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
  -n "${ONESTACK_TEST_WORKERS:-2}"
echo "== pytest (integration: real QEMU on this machine; skips itself without root or QEMU)"
.venv/bin/pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/integration
if [ "${1:-}" != "--quick" ]; then
  echo "== interop (tempest 47.0.0, 2022.11 guideline)"
  .venv/bin/python tests/interop/run.py
fi
