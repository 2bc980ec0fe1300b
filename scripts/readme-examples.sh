#!/usr/bin/env bash
# Compiles every ```rust block of README.md the way a reader would use it: copied verbatim into
# a fresh crate whose Cargo.toml is the README's own `[dependencies]` snippet (with the path to
# tether-native made absolute). No hidden lines, no extra dependencies.
#
#   bash scripts/readme-examples.sh          # cargo check every example
#   bash scripts/readme-examples.sh --run N  # also build example N and print its binary's path
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=target/readme-examples
rm -rf "$scratch/src"
mkdir -p "$scratch/src/bin"

python3 - "$root" "$scratch" <<'PY'
import pathlib, re, sys
root, scratch = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
readme = (root / "README.md").read_text()
blocks = re.findall(r"^```(\w+)([^\n]*)\n(.*?)^```", readme, re.S | re.M)
tomls = [body for lang, _, body in blocks if lang == "toml" and "[dependencies]" in body]
if len(tomls) != 1:
    sys.exit(f"expected one [dependencies] snippet in README.md, found {len(tomls)}")
deps = tomls[0].replace('path = "transport-native"', f'path = "{root}/transport-native"')
(scratch / "Cargo.toml").write_text(
    '[package]\nname = "readme-examples"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
    + deps + "\n# Not part of the Tether workspace.\n[workspace]\n"
)
rust = [body for lang, attrs, body in blocks if lang == "rust" and "ignore" not in attrs]
if not rust:
    sys.exit("no rust examples found in README.md")
for n, body in enumerate(rust, 1):
    if re.search(r"^\s*# ", body, re.M):
        sys.exit(f"README example {n} has hidden `# ` lines: a reader copying it would not see them")
    if "fn main" not in body:
        sys.exit(f"README example {n} has no `fn main`: it is not a program a reader can run")
    (scratch / "src" / "bin" / f"example_{n}.rs").write_text(body)
print(f"[readme] {len(rust)} Rust examples")
PY

# The workspace's lock file pins the same versions the tests use (and lets this run offline).
cp Cargo.lock "$scratch/Cargo.lock"
export CARGO_TARGET_DIR="$root/target/readme-examples/target"
cargo check --quiet --manifest-path "$scratch/Cargo.toml" --bins
echo "[readme] OK: every README example compiles in a crate that depends only on tether-native"
if [ "${1:-}" = "--run" ]; then
  cargo build --quiet --manifest-path "$scratch/Cargo.toml" --bin "example_$2"
  echo "$CARGO_TARGET_DIR/debug/example_$2"
fi
