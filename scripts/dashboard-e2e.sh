#!/usr/bin/env bash
# `make test-e2e`: the dashboard end to end. Builds the page (`make dashboard`) and the tether
# program, then web-dashboard/e2e/dashboard.e2e.mjs starts `tether demo`, drives Debian's
# headless Chromium through playwright-core (installed by `make setup`, no browser download)
# and checks: live data in every panel; a failing upstream turns its breaker OPEN (red) with
# an alert, and recovery turns it back; a service named `<img src=x onerror=alert(1)>` is
# literal text and opens no dialog; with the server stopped the data stays under a "Stale
# since" banner. It saves a screenshot (target/e2e/dashboard.png unless E2E_SCREENSHOT says
# otherwise; `make dashboard-screenshot` refreshes docs/dashboard.png).
#
# Bounded: the script stops itself after E2E_DEADLINE seconds (default 240), `timeout` ends it
# 60 s later, and the demo it starts stops by itself after its --duration in any case.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[e2e] %s\n' "$*"; }
if [ ! -f web-dashboard/e2e/node_modules/playwright-core/package.json ]; then
  echo "[e2e] playwright-core is not installed: run \`make setup\`" >&2
  exit 1
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "[e2e] $chromium is missing: run \`make setup\`" >&2
  exit 1
fi
bash scripts/dashboard-build.sh
log "building the tether program"
cargo build --quiet -p tether-native --all-features --bin tether
deadline=${E2E_DEADLINE:-240}
shot=${E2E_SCREENSHOT:-target/e2e/dashboard.png}
# shellcheck disable=SC2086 # E2E_ARGS is a list of options
CHROMIUM="$chromium" timeout --kill-after=10 $((deadline + 60)) \
  node web-dashboard/e2e/dashboard.e2e.mjs \
  --tether "$PWD/target/debug/tether" --dist "$PWD/web-dashboard/dist" \
  --screenshot "$shot" --deadline-seconds "$deadline" ${E2E_ARGS:-}
