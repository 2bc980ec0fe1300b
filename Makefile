# Tether — build, test, demo. `make demo` and `make test` are the two commands that matter.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all setup test test-rust lint fmt-check clippy doc refs wasm-check readme-examples demo bench bench-setup bench-native fuzz-smoke clean help

all: test

help:
	@echo "make demo        - run the engine through a simulated flaky upstream (virtual time)"
	@echo "make test        - setup, fmt check, clippy -D warnings, all tests, docs (warnings denied), wasm build"
	@echo "                   of tether-core, README examples compiled in a fresh crate"
	@echo "make doc         - cargo doc of the workspace with warnings denied"
	@echo "make bench       - criterion benchmarks of the core decisions"
	@echo "make bench-native - Tether async (hyper) and blocking (ureq) vs ureq, reqwest, hyper, reqwest+middleware:"
	@echo "                   each client in its own process against nginx (1 worker); writes docs/bench-native.md"
	@echo "                   (~4 min; BENCH_ARGS='--diagnostics' adds the rows that explain Tether's, ~6 min)"
	@echo "make bench-setup - install nginx and wrk for bench-native (idempotent)"
	@echo "make fuzz-smoke  - run every cargo-fuzz target for a bounded time"
	@echo "make setup       - install what the tests need (idempotent)"

setup:
	@bash scripts/setup.sh

demo:
	$(CARGO) run --quiet --release -p tether-tests --example simulate

test: setup fmt-check refs clippy test-rust doc wasm-check readme-examples
	@echo "make test: all green"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

refs:
	@bash scripts/check-refs.sh

wasm-check:
	@bash scripts/wasm-check.sh

readme-examples:
	@bash scripts/readme-examples.sh

bench:
	$(CARGO) bench -p tether-core

bench-setup:
	@bash scripts/bench-setup.sh

BENCH_ARGS ?=
bench-native: bench-setup
	$(CARGO) run --release -p tether-bench-native --bin bench-native -- --out docs/bench-native.md $(BENCH_ARGS)

FUZZ_SECONDS ?= 20
fuzz-smoke:
	@bash scripts/fuzz-smoke.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
