#!/usr/bin/env bash
# Refresh the dashboard's vendored browser files from npm (pinned by package-lock.json).
# Only whoever updates them needs Node; the copies under static/vendor are committed.
set -euo pipefail
cd "$(dirname "$0")/../src/onestack/dashboard/vendor"
if [ "${1:-}" = "--lock" ]; then
  npm install --ignore-scripts --no-audit --no-fund --package-lock-only
fi
npm ci --ignore-scripts --no-audit --no-fund
out=../static/vendor
mkdir -p "$out"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"
cp node_modules/htmx.org/LICENSE "$out/htmx.LICENSE"
rm -rf node_modules
echo "vendored: $(ls "$out" | tr '\n' ' ')"
