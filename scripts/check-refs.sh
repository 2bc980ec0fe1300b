#!/usr/bin/env bash
# Fails if a source file or document points at a design document outside the repository
# (the project's private spec, decision ids or anchor notes). Rationale belongs in place, or in
# docs/ (the original Python contract is in docs/compat.md). RFC section references are fine.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='spec §|\bspec D[0-9]|ANCHORS|original-api|\.\./shared|/work/shared|DESIGN\.md|STYLE\.md|TOOLCHAIN\.md|\b(defects?|change) D[0-9]{1,2}\b|\(D[0-9]{1,2}\)|, D[0-9]{1,2}\)'
hits=$(git ls-files -- '*.rs' '*.md' '*.py' '*.sh' '*.toml' 'Makefile' \
  | grep -v '^docs/compat.md$' | grep -v '^scripts/check-refs.sh$' \
  | xargs grep -nE "$pattern" || true)
if [ -n "$hits" ]; then
  echo "References to documents outside the repository (state the rationale in place, or in docs/):"
  echo "$hits"
  exit 1
fi
echo "[refs] no references to documents outside the repository"
