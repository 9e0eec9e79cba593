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
# noVNC as the ES modules it ships (core/ and its vendored pako), loaded unbundled
rm -rf "$out/novnc"
mkdir -p "$out/novnc"
cp -r node_modules/@novnc/novnc/core node_modules/@novnc/novnc/vendor "$out/novnc/"
cp node_modules/@novnc/novnc/LICENSE.txt "$out/novnc/LICENSE.txt"
# xterm.js: its ES module build and stylesheet
rm -rf "$out/xterm"
mkdir -p "$out/xterm"
cp node_modules/@xterm/xterm/lib/xterm.mjs node_modules/@xterm/xterm/css/xterm.css "$out/xterm/"
cp node_modules/@xterm/xterm/LICENSE "$out/xterm/LICENSE"
rm -rf node_modules
echo "vendored: $(ls "$out" | tr '\n' ' ')"
