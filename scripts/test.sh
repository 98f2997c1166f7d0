#!/usr/bin/env bash
# The project's test command (README, .ci/run). Unit tests next to the code; the cross-binary tests
# in tests/ start the real binaries, so those are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins "$@"
exec cargo test --workspace --all-targets "$@"
