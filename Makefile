# Tether — build, test, demo. `make demo` and `make test` are the two commands that matter.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all setup test test-rust test-wasm test-e2e wasm dashboard dashboard-screenshot lint fmt-check clippy doc refs wasm-check readme-examples demo demo-sim bench bench-setup bench-native bench-wasm fuzz-smoke clean help python-env wheel test-python lint-python bench-bridge bench-python

all: test

help:
	@echo "make demo        - the live demo: chaos upstream, services failing and recovering, the monitoring"
	@echo "                   server and a status line per service, for DEMO_SECONDS (default 60)"
	@echo "make demo-sim    - the engine through a simulated flaky upstream on virtual time (instant)"
	@echo "make test        - setup, fmt check, clippy -D warnings, all tests, docs (warnings denied), wasm build"
	@echo "                   of tether-core, README examples compiled in a fresh crate, the Python wheel's"
	@echo "                   pytest suite from a fresh venv, ruff and mypy --strict"
	@echo "make doc         - cargo doc of the workspace with warnings denied"
	@echo "make bench       - criterion benchmarks of the core decisions"
	@echo "make bench-native - Tether async (hyper) and blocking (ureq) vs ureq, reqwest, hyper, reqwest+middleware:"
	@echo "                   each client in its own process against nginx (1 worker); writes docs/bench-native.md"
	@echo "                   (~4 min; BENCH_ARGS='--diagnostics' adds the rows that explain Tether's, ~6 min)"
	@echo "make bench-setup - install nginx and wrk for bench-native (idempotent)"
	@echo "make wasm        - the browser package: pkg/tether-wasm (ES module, .d.ts, package.json)"
	@echo "make test-wasm   - wasm tests under Node and headless Chromium, vectors, tsc --strict"
	@echo "make bench-wasm  - client + engine overhead per request: Chromium and Node vs native"
	@echo "make dashboard   - the monitoring dashboard (Rust -> wasm, static page) into web-dashboard/dist"
	@echo "make test-e2e    - the dashboard end to end: tether demo + headless Chromium (Playwright)"
	@echo "make dashboard-screenshot - refresh docs/dashboard.png from a live demo (about 3 minutes)"
	@echo "make fuzz-smoke  - run every cargo-fuzz target for a bounded time"
	@echo "make wheel       - build the abi3 wheel of the Python package into dist/"
	@echo "make test-python - build the wheel, install it into a fresh venv, run its pytest suite"
	@echo "make lint-python - ruff (format + lint) and mypy --strict over the Python package, tests, bench"
	@echo "make bench-bridge - the asyncio bridge vs future_into_py, aiohttp and httpx against nginx"
	@echo "make bench-python - tether.http_client vs aiohttp, httpx, httpx+tenacity+pybreaker, httpx+hishel"
	@echo "make setup       - install what the tests need (idempotent)"

setup:
	@bash scripts/setup.sh

# The live demo: `tether demo` (release build) for DEMO_SECONDS, then it stops by itself. The
# dashboard is built first; the demo prints its URL.
DEMO_SECONDS ?= 60
demo:
	@bash scripts/dashboard-build.sh 2>/dev/null || \
	  { echo "[demo] installing the wasm tools for the dashboard (make setup)"; \
	    bash scripts/setup.sh && bash scripts/dashboard-build.sh; } || \
	  echo "[demo] the dashboard could not be built; the demo runs without it (its JSON routes still answer)"
	@echo "Building the tether program (release; the first build takes a few minutes)..."
	$(CARGO) build --quiet --release -p tether-native --features cli --bin tether
	./target/release/tether demo --duration $(DEMO_SECONDS)s

# The engine alone, through a scripted flaky upstream on virtual time.
demo-sim:
	$(CARGO) run --quiet --release -p tether-tests --example simulate

test: setup fmt-check refs clippy test-rust doc wasm-check test-wasm test-e2e readme-examples test-python lint-python
	@echo "make test: all green"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p tether-native --all-features --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace
	$(CARGO) test -p tether-native --all-features

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p tether-native --all-features --no-deps

refs:
	@bash scripts/check-refs.sh

wasm-check:
	@bash scripts/wasm-check.sh

wasm:
	@bash scripts/wasm-package.sh

test-wasm:
	@bash scripts/wasm-test.sh

dashboard:
	@bash scripts/dashboard-build.sh

test-e2e:
	@bash scripts/dashboard-e2e.sh

# A screenshot with a longer trend than the test needs.
dashboard-screenshot:
	E2E_SCREENSHOT=docs/dashboard.png E2E_ARGS="--warmup-seconds 150" E2E_DEADLINE=300 \
	  bash scripts/dashboard-e2e.sh

readme-examples:
	@bash scripts/readme-examples.sh

bench:
	$(CARGO) bench -p tether-core

bench-setup:
	@bash scripts/bench-setup.sh

BENCH_ARGS ?=
bench-native: bench-setup
	$(CARGO) run --release -p tether-bench-native --bin bench-native -- --out docs/bench-native.md $(BENCH_ARGS)

# The Python package: a venv with maturin and the test/bench tools (.tools/py), the wheel in
# dist/, its tests from a fresh venv that installs that wheel.
PY_VENV := .tools/py

python-env:
	@bash scripts/setup-python.sh

wheel: python-env
	rm -f dist/tether-*.whl
	$(PY_VENV)/bin/maturin build --release -m bindings-python/Cargo.toml -o dist/

test-python: wheel
	@bash scripts/test-python.sh

lint-python: python-env
	cd bindings-python && ../$(PY_VENV)/bin/ruff format --check python tests bench examples
	cd bindings-python && ../$(PY_VENV)/bin/ruff check python tests bench examples
	cd bindings-python && MYPYPATH=python ../$(PY_VENV)/bin/mypy python/tether tests bench examples

bench-bridge: bench-setup wheel
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/tether-*.whl
	$(PY_VENV)/bin/python bindings-python/bench/bench_bridge.py

bench-python: bench-setup wheel
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/tether-*.whl
	$(PY_VENV)/bin/python bindings-python/bench/bench_python.py

bench-wasm:
	@bash scripts/wasm-bench.sh

FUZZ_SECONDS ?= 20
fuzz-smoke:
	@bash scripts/fuzz-smoke.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
