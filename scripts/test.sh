#!/usr/bin/env bash
# The project's test command (README, .ci/run). Unit tests next to the code, cross-binary tests in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --all-targets "$@"
