#!/usr/bin/env bash
# Stops the compose lab cluster and removes its containers, network and volumes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
require_engine
compose down -v --remove-orphans
rm -rf "$out"
