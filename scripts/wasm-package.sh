#!/usr/bin/env bash
# `make wasm`: builds tether-wasm (release) and packages it as an importable ES module with
# TypeScript declarations in pkg/tether-wasm/ (package.json, tether_wasm.js, tether_wasm.d.ts,
# tether_wasm_bg.wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-env.sh
need_wasm_bindgen
out=pkg/tether-wasm
wasm_cargo_release build -p tether-wasm --lib
wasm="$WASM_TARGET_DIR/wasm32-unknown-unknown/release/tether_wasm.wasm"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name tether_wasm "$wasm"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
cat > "$out/package.json" <<JSON
{
  "name": "tether-wasm",
  "version": "$version",
  "description": "Tether in the browser: a resilient, observable HTTP client (cache, circuit breaker, retries, metrics) over fetch, from one Rust core.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./tether_wasm.js",
  "module": "./tether_wasm.js",
  "types": "./tether_wasm.d.ts",
  "exports": {
    ".": { "types": "./tether_wasm.d.ts", "default": "./tether_wasm.js" },
    "./tether_wasm_bg.wasm": "./tether_wasm_bg.wasm"
  },
  "files": ["tether_wasm.js", "tether_wasm.d.ts", "tether_wasm_bg.wasm", "tether_wasm_bg.wasm.d.ts"],
  "sideEffects": false
}
JSON
size=$(wc -c < "$out/tether_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/tether_wasm_bg.wasm" | wc -c)
echo "[wasm] package: $out (tether_wasm_bg.wasm $((size / 1024)) KiB, $((gz / 1024)) KiB gzipped)"
