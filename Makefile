# Every task of the project in one place. Each target calls the script that
# does the work; the scripts do their own set-up and are safe to run twice.
# `make help` lists the targets.

.PHONY: help setup run test ci node devnet wasmd bench bench-runtime bench-nn bench-transfer bench-api bench-chain gpu-check bless contracts plugins docs fuzz fmt lint env

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

setup:  ## Wasm targets, plugin builds, ONNX Runtime and the pinned models
	scripts/setup.sh

run:  ## The main job: the example plugins doing real work through the sandbox, then served by a local node
	scripts/run.sh

test:  ## All the tests (as CI runs them, without the lints)
	scripts/test.sh

ci:  ## What CI runs: the tests, formatting, lints, docs
	bash .ci/run

node:  ## A local node in the foreground (config and data in the data directory)
	cargo run --release -q -p clusterai-cli -- node start

devnet:  ## The contracts in one local process (a devnet), in the foreground
	cargo run --release -q -p clusterai-cli -- devnet serve

wasmd:  ## Build the pinned wasmd from the Go module proxy (cached)
	scripts/setup-wasmd.sh

bench: bench-runtime bench-nn bench-transfer bench-api bench-chain  ## Every benchmark suite

bench-runtime:  ## Warm task start and cached load against the naive path
	cargo run --release -q -p clusterai-cli -- bench runtime

bench-nn:  ## Each model through the plugin path against native ONNX Runtime
	cargo run --release -q -p clusterai-cli -- bench nn

bench-transfer:  ## Blobs over iroh against an HTTPS download and a BLAKE3 check, and a TCP copy
	cargo run --release -q -p clusterai-cli -- bench transfer

bench-api:  ## A node over HTTP (durable queue, receipts) against the same tasks in-process
	cargo run --release -q -p clusterai-cli -- bench api

bench-chain:  ## Contract gas in cosmwasm-vm; the economics simulation; the network on a wasmd chain against the protocol's floor
	scripts/bench-chain.sh
	scripts/test-contracts.sh --artifacts-only
	CLUSTERAI_WASMD="$$(scripts/setup-wasmd.sh)" cargo run --release -q -p clusterai-cli -- bench chain

gpu-check:  ## CUDA against CPU, on a machine with an NVIDIA GPU
	scripts/gpu-check.sh

bless:  ## Regenerate the golden files (contract schemas; the OpenAPI document)
	for c in cosmwasm-contracts/contracts/*/; do (cd "$$c" && cargo run -q --bin schema >/dev/null); done
	BLESS=1 cargo test -q -p clusterai-node openapi

contracts:  ## Build the contracts for wasm, check them, run them in cosmwasm-vm
	scripts/test-contracts.sh

plugins:  ## Build the plugins for wasm32-wasip2
	scripts/build-plugins.sh

docs:  ## API docs, warnings as errors
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

fuzz:  ## Every fuzz target for 5 minutes from its corpus (nightly, cargo-fuzz)
	scripts/fuzz.sh 300

fmt:  ## Format everything
	cargo fmt --all && (cd plugins && cargo fmt --all) && (cd fuzz && cargo fmt)

lint:  ## Clippy with warnings as errors, host and plugins
	cargo clippy --workspace --all-targets -- -D warnings
	cd plugins && cargo clippy --workspace --all-targets --target wasm32-wasip2 -- -D warnings

env:  ## Where this machine keeps the node's data and caches
	cargo run -q -p clusterai-cli -- env
