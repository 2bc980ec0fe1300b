#!/usr/bin/env bash
# Idempotent setup: installs only what is missing. Safe to run on every `make test`.
#   - Debian packages the tests need (`prometheus`: promtool and the server; `influxdb` 1.x),
#   - the wasm32-unknown-unknown target: rustup first (with a timeout), otherwise Debian's
#     rustc-web + rust-web-src + lld-22 with -Zbuild-std (see scripts/wasm-env.sh),
#   - the browser tests' tools: wasm-bindgen-cli at the version Cargo.lock pins (in .tools/bin),
#     Debian's chromium + chromium-driver, Node and TypeScript (in .tools/node),
#   - playwright-core for the dashboard's end-to-end test (in web-dashboard/e2e/node_modules).
#   - the Python virtualenv of the bindings (.tools/py: maturin and the test, lint and bench
#     tools pinned in bindings-python/requirements-dev.txt), see scripts/setup-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

log() { printf '[setup] %s\n' "$*"; }

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# 1. Build basics and real consumers used by the tests (promtool and a Prometheus server from
#    `prometheus`, an InfluxDB 1.x server from `influxdb`; nothing is started by the install).
#    The tests start their own instances on free loopback ports with temporary data folders, so
#    a system service the package may have started elsewhere does not get in their way.
apt_install ca-certificates curl pkg-config build-essential prometheus influxdb
for tool in promtool:prometheus prometheus:prometheus influxd:influxdb; do
  bin=${tool%%:*}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/bin/$bin" ] && [ ! -x "/usr/sbin/$bin" ]; then
    echo "[setup] error: \`$bin\` (Debian package ${tool#*:}) is still missing after the install" >&2
    exit 1
  fi
done

# 2. Rust components (rustup toolchain from rust-toolchain.toml or the default).
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || timeout 300 rustup component add "$c" || true
  done
fi

# 3. The wasm target. Route A: rustup. Route B: Debian rustc-web with build-std.
route_file="$TOOLS/wasm-route"
if [ -z "${TETHER_WASM_ROUTE:-}" ] && [ -f "$route_file" ]; then
  log "wasm route: $(cat "$route_file") (cached)"
else
  route="${TETHER_WASM_ROUTE:-}"
  if [ -z "$route" ] || [ "$route" = rustup ]; then
    if command -v rustup >/dev/null 2>&1 && \
       { rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' || \
         timeout 300 rustup target add wasm32-unknown-unknown; }; then
      route=rustup
    else
      log "rustup could not add wasm32-unknown-unknown; falling back to Debian rustc-web + build-std"
      route=debian
    fi
  fi
  if [ "$route" = debian ]; then
    apt_install rustc-web cargo-web rust-web-src lld lld-22
  fi
  echo "$route" > "$route_file"
  log "wasm route: $route"
fi
# 4. wasm-bindgen-cli: exactly the `wasm-bindgen` version of Cargo.lock (the CLI refuses a
#    module built by another). Installed without --locked: its lock file names a webpki-roots
#    release the crates.io index served here does not list.
wbg=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ -n "$wbg" ]; then
  have=$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$wbg" ] || [ ! -x "$TOOLS/bin/wasm-bindgen-test-runner" ]; then
    log "cargo install wasm-bindgen-cli $wbg (a few minutes)"
    cargo install --quiet wasm-bindgen-cli --version "$wbg" --root "$TOOLS" --force
  fi
fi

# 5. Headless Chromium and its WebDriver for wasm-bindgen-test (Debian's: no browser
#    download); Node (18 or later: a global fetch) and npm, from Debian unless the machine has
#    them already (an existing Node, e.g. NodeSource's, is kept: Debian's npm would replace it).
apt_install chromium chromium-driver
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

# 6. TypeScript, local to the checkout (tsc --strict on the typed example).
TS_VERSION=5.9.3
if [ "$(cat "$TOOLS/node/typescript.version" 2>/dev/null)" != "$TS_VERSION" ]; then
  log "npm install typescript@$TS_VERSION into .tools/node"
  mkdir -p "$TOOLS/node"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "typescript@$TS_VERSION" >/dev/null
  echo "$TS_VERSION" > "$TOOLS/node/typescript.version"
fi
# 7. playwright-core for the dashboard's end-to-end test, into web-dashboard/e2e/node_modules
#    from its lock file. It drives Debian's chromium (step 5): no browser is downloaded.
e2e=web-dashboard/e2e
want=$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' "$e2e/package.json")
have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$e2e/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  log "npm ci playwright-core@$want into $e2e/node_modules"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund --prefix "$e2e" >/dev/null
fi

# 8. The Python virtualenv the wheel is built and tested with.
bash scripts/setup-python.sh

log "done"
