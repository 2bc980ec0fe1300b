# Sourced by the wasm scripts: the route setup chose (rustup, or Debian rustc-web with
# -Zbuild-std), the tools it installed (.tools/bin: wasm-bindgen, wasm-bindgen-test-runner;
# .tools/node: typescript), and `wasm_cargo SUBCOMMAND ARGS...` for the wasm32 target.
#
#   WASM_TARGET_DIR   where wasm32 artefacts land (never shared between the two cargos)
#   WASM_PROFILE      debug or release: the build-std route builds tests in release, since a
#                     debug build would compile std a second time
WASM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$WASM_ROOT/.tools/bin:$WASM_ROOT/.tools/node/node_modules/.bin:$PATH"
WASM_ROUTE=$(cat "$WASM_ROOT/.tools/wasm-route" 2>/dev/null || echo rustup)
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
if [ -x /usr/bin/chromedriver ]; then
  export CHROMEDRIVER=/usr/bin/chromedriver
fi
if [ "$WASM_ROUTE" = debian ]; then
  WASM_TARGET_DIR="$WASM_ROOT/target-wasm"
  WASM_PROFILE=release
  wasm_cargo() {
    local sub=$1
    shift
    PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
      /usr/bin/cargo "$sub" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort --release "$@"
  }
else
  WASM_TARGET_DIR="$WASM_ROOT/target"
  WASM_PROFILE=debug
  wasm_cargo() {
    local sub=$1
    shift
    cargo "$sub" --target wasm32-unknown-unknown "$@"
  }
fi

# `wasm_cargo_release SUBCOMMAND ARGS...`: always optimised (packages, benchmarks).
wasm_cargo_release() {
  if [ "$WASM_ROUTE" = debian ]; then
    wasm_cargo "$@"
  else
    local sub=$1
    shift
    cargo "$sub" --target wasm32-unknown-unknown --release "$@"
  fi
}

need_wasm_bindgen() {
  local want
  want=$(grep -A1 '^name = "wasm-bindgen"$' "$WASM_ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')
  if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$want" ]; then
    echo "[wasm] wasm-bindgen $want is not installed: run \`make setup\`" >&2
    return 1
  fi
}
