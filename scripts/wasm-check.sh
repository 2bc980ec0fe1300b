#!/usr/bin/env bash
# Builds tether-core for wasm32-unknown-unknown by the route setup chose, and proves its
# dependency tree holds no tokio, web-sys, pyo3 or getrandom.
set -euo pipefail
cd "$(dirname "$0")/.."
route=$(cat .tools/wasm-route 2>/dev/null || echo rustup)
echo "[wasm] route: $route"
if [ "$route" = debian ]; then
  # Debian's rustc-web (1.9x) with -Zbuild-std; its own target dir (never share one with rustup).
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target-wasm \
    /usr/bin/cargo build --release -p tether-core --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
else
  cargo build --release -p tether-core --target wasm32-unknown-unknown
fi
tree=$(cargo tree -p tether-core --target wasm32-unknown-unknown -e normal,build --prefix none)
if echo "$tree" | grep -E '^(tokio|web-sys|pyo3|getrandom|wasm-bindgen|mio|socket2) '; then
  echo "[wasm] FAIL: forbidden crate in tether-core's dependency tree" >&2
  exit 1
fi
if grep -rnE 'Instant::now|SystemTime::now|thread_rng' core/src; then
  echo "[wasm] FAIL: clock or OS randomness under core/src" >&2
  exit 1
fi
echo "[wasm] OK: tether-core builds for wasm32-unknown-unknown; $(echo "$tree" | sort -u | wc -l) crates in its tree, none forbidden"
