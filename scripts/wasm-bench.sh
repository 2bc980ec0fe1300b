#!/usr/bin/env bash
# `make bench-wasm`: the client layer's and the engine's cost per request over a scripted
# transport (no network), in headless Chromium, in Node, and natively — the same loop
# (bench/wasm-overhead). Prints a table and writes it to docs/bench-wasm.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-env.sh
need_wasm_bindgen
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "[bench-wasm] native (release)"
cargo run --quiet --release -p tether-bench-wasm --bin bench-wasm-native | tee "$tmp/native.log"
echo "[bench-wasm] Node (wasm32, release)"
wasm_cargo_release test -p tether-bench-wasm --test overhead -- --include-ignored --nocapture 2>&1 \
  | tee "$tmp/node.log" | grep '^bench:' || true
echo "[bench-wasm] headless Chromium (wasm32, release)"
WASM_BINDGEN_USE_BROWSER=1 wasm_cargo_release test -p tether-bench-wasm --test overhead -- \
  --include-ignored --nocapture 2>&1 | tee "$tmp/chromium.log" | grep '^bench:' || true
cat "$tmp"/*.log | grep -h '^bench:' > "$tmp/all.txt" || true
if [ "$(wc -l < "$tmp/all.txt")" -ne 15 ]; then
  echo "[bench-wasm] FAIL: expected 15 results (5 cases x 3 runtimes)" >&2
  tail -n 40 "$tmp/node.log" "$tmp/chromium.log" >&2
  exit 1
fi
python3 - "$tmp/all.txt" docs/bench-wasm.md <<'PY'
import platform, re, subprocess, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    rows[(kv["case"], kv["runtime"])] = kv
def best(case, rt):
    return float(rows[(case, rt)]["min"])
def cell(case, rt):
    r = rows[(case, rt)]
    return f'**{float(r["min"]) / 1000:.2f} µs** ({float(r["ns_per_request"]) / 1000:.2f})'
chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
out = ["# `make bench-wasm` (generated)", "",
       "Client layer + engine per request over a scripted transport (no network): the fastest of",
       f'{rows[("miss", "native")]["rounds"]} rounds of {rows[("miss", "native")]["requests"]} requests (the median round in parentheses).',
       f"{chromium}; Node {node}; {platform.machine()}, shared 2-vCPU machine.", "",
       "| case | Chromium (wasm32) | Node (wasm32) | native | Chromium ÷ native |",
       "| --- | --: | --: | --: | --: |"]
for case, what in [("miss", "client + engine, miss: every request reaches the transport (`no-store`)"),
                   ("hit", "client + engine, hit: answered from the cache"),
                   ("engine-miss", "engine alone, miss (`begin` + `on_response` + drain)"),
                   ("engine-hit", "engine alone, hit (`begin` + drain)"),
                   ("uri-parse", "client step alone: parse and check the URL (`uri::parse`)")]:
    ratio = best(case, "chromium") / best(case, "native")
    out.append(f"| {what} | {cell(case, 'chromium')} | {cell(case, 'node')} | {cell(case, 'native')} | {ratio:.1f}× |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
echo "[bench-wasm] written to docs/bench-wasm.md"
