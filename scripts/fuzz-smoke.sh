#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 20 s each) on the nightly toolchain.
# Each run starts from fuzz/corpus/<target> (kept between runs, git-ignored) plus the committed
# hand-made seeds in fuzz/seeds/<target> (regenerate with fuzz/seeds/gen_seeds.py).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || timeout 600 rustup toolchain install nightly --profile minimal
cd fuzz
targets=$(cargo +nightly fuzz list)
for t in $targets; do
  echo "[fuzz] $t for ${secs}s"
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  if [ -d "seeds/$t" ]; then dirs+=("seeds/$t"); fi
  cargo +nightly fuzz run "$t" "${dirs[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 3
done
echo "[fuzz] all targets ran ${secs}s without a crash"
