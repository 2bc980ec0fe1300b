#!/usr/bin/env bash
# `make dashboard`: builds the monitoring dashboard into web-dashboard/dist/ — the static page
# (index.html, style.css, main.js) and its module (pkg/tether_dashboard.js + _bg.wasm), built
# from the tether-dashboard crate (release) and packaged by wasm-bindgen for the web. The
# monitoring server (`tether serve`, `tether demo`) serves that folder at `/`.
#
# The folder is assembled beside the old one and swapped in, so a server running on it never
# serves a half-built page.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-env.sh
need_wasm_bindgen
out=web-dashboard/dist
wasm_cargo_release build --quiet -p tether-dashboard --lib
wasm="$WASM_TARGET_DIR/wasm32-unknown-unknown/release/tether_dashboard.wasm"
next=$(mktemp -d web-dashboard/.dist-XXXXXX)
trap 'rm -rf "$next"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$next/pkg" --out-name tether_dashboard "$wasm"
cp web-dashboard/static/index.html web-dashboard/static/style.css web-dashboard/static/main.js "$next/"
chmod 755 "$next"
old=
if [ -d "$out" ]; then
  old=$(mktemp -d web-dashboard/.old-XXXXXX)
  mv "$out" "$old/dist"
fi
mv "$next" "$out"
[ -n "$old" ] && rm -rf "$old"
size=$(wc -c < "$out/pkg/tether_dashboard_bg.wasm")
gz=$(gzip -9 -c "$out/pkg/tether_dashboard_bg.wasm" | wc -c)
echo "[dashboard] $out (tether_dashboard_bg.wasm $((size / 1024)) KiB, $((gz / 1024)) KiB gzipped)"
