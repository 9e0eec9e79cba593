#!/usr/bin/env bash
# Install what is missing, then start Onestack in the foreground: ./up.sh [onestack up options]
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup-env.sh
exec .venv/bin/onestack up "$@"
