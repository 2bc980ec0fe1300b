#!/usr/bin/env bash
# `make test-wasm`: the browser frontend, tested where it runs.
#
#   1. starts the chaos upstream (`tether-chaos --cors`) on a free loopback port, and lints
#      the wasm32-only code with clippy;
#   2. under Node (wasm-bindgen-test): the scenario vectors and the core's scenario, client
#      and cache-isolation tests (tether-tests built for wasm32), whose conformance
#      fingerprint must equal the native one, then tether-wasm's fetch and JS API tests;
#   3. in headless Chromium (Debian's chromium + chromedriver): tether-wasm's tests again, in a
#      window and in a dedicated Web Worker;
#   4. packages the module (`make wasm`), compiles the typed example with `tsc --strict`
#      against its declarations, and runs it under Node against the chaos upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-env.sh
need_wasm_bindgen
log() { printf '[wasm] %s\n' "$*"; }

tmp=$(mktemp -d)
chaos_pid=
cleanup() {
  if [ -n "$chaos_pid" ]; then kill "$chaos_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cargo build --quiet -p tether-chaos --bin tether-chaos
target/debug/tether-chaos --port 0 --cors >"$tmp/chaos.out" 2>"$tmp/chaos.err" &
chaos_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$tmp/chaos.out" && break
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$tmp/chaos.out" | head -n1)
if [ -z "$addr" ]; then
  echo "[wasm] FAIL: the chaos upstream did not start" >&2
  cat "$tmp/chaos.err" >&2
  exit 1
fi
# The tests are built with these (option_env!): a wasm module reads no environment.
export TETHER_CHAOS_URL="http://$addr"
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export TETHER_CLOSED_URL="http://127.0.0.1:$closed_port"
log "chaos upstream at $TETHER_CHAOS_URL (route: $WASM_ROUTE)"

if [ "$WASM_ROUTE" = rustup ]; then
  # `make clippy` lints the host build; the code behind cfg(target_arch = "wasm32") — the
  # wasm tests, the bench's wasm side — is linted here, on its own target.
  log "clippy for wasm32 (tether-wasm, tether-tests, tether-bench-wasm)"
  cargo clippy --quiet --target wasm32-unknown-unknown --all-targets --no-deps \
    -p tether-wasm -p tether-bench-wasm -- -D warnings
  cargo clippy --quiet --target wasm32-unknown-unknown --all-targets --no-deps \
    -p tether-tests --no-default-features -- -D warnings
fi

log "Node: vectors and the core's scenario, client and cache-isolation tests"
# Without its default `blocking` feature (the native blocking API's driver), tether-tests
# builds for wasm32.
wasm_cargo test -p tether-tests --no-default-features --test conformance --test scenarios \
  --test client --test cache_isolation -- --nocapture 2>&1 | tee "$tmp/node-core.log" | grep -E '^(test |running|conformance:)' || true
if grep -qE 'test result: FAILED|^error' "$tmp/node-core.log" || ! grep -q 'test result: ok' "$tmp/node-core.log"; then
  tail -n 60 "$tmp/node-core.log" >&2
  echo "[wasm] FAIL: tether-tests under Node" >&2
  exit 1
fi
wasm_fp=$(grep -o 'fingerprint [0-9a-f]*' "$tmp/node-core.log" | head -n1)
native_fp=$(cargo test --quiet -p tether-tests --test conformance -- --nocapture 2>&1 | grep -o 'fingerprint [0-9a-f]*' | head -n1)
if [ -z "$wasm_fp" ] || [ "$wasm_fp" != "$native_fp" ]; then
  echo "[wasm] FAIL: conformance differs: wasm32/Node '$wasm_fp', native '$native_fp'" >&2
  exit 1
fi
log "conformance: wasm32 under Node and native agree ($wasm_fp)"

log "Node: tether-wasm (fetch transport, runtime, client, JS API)"
wasm_cargo test -p tether-wasm --test fetch --test js_api

log "headless Chromium: tether-wasm (fetch transport, runtime, client, JS API; in a window and in a dedicated worker)"
WASM_BINDGEN_USE_BROWSER=1 wasm_cargo test -p tether-wasm --tests

log "package + tsc --strict on the typed example"
bash scripts/wasm-package.sh
mkdir -p "$tmp/example/node_modules"
ln -s "$PWD/pkg/tether-wasm" "$tmp/example/node_modules/tether-wasm"
cp transport-wasm/js/example.ts transport-wasm/js/tsconfig.json transport-wasm/js/run-example.mjs "$tmp/example/"
echo '{ "type": "module", "private": true }' > "$tmp/example/package.json"
# The README's TypeScript blocks are compiled too, so that the tour cannot drift from the API.
python3 - "$tmp/example" <<'PY'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
blocks = re.findall(r"^```ts\n(.*?)^```", pathlib.Path("README.md").read_text(), re.S | re.M)
if not blocks:
    sys.exit("README.md has no ```ts block")
config = json.loads((out / "tsconfig.json").read_text())
for n, body in enumerate(blocks, 1):
    (out / f"readme_{n}.ts").write_text(body + "\nexport {};\n")
    config["files"].append(f"readme_{n}.ts")
(out / "tsconfig.json").write_text(json.dumps(config, indent=2))
print(f"[wasm] {len(blocks)} README TypeScript block(s)")
PY
tsc -p "$tmp/example/tsconfig.json" --outDir "$tmp/example/out"
log "tsc --strict: the typed example and the README's TypeScript compile against the declarations"
(cd "$tmp/example" && node run-example.mjs out "$TETHER_CHAOS_URL")
log "OK"
