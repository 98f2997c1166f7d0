#!/usr/bin/env bash
# Builds the binaries and the FROM-scratch image, then starts the compose lab cluster
# (init, apiserver, seed, controller-manager, node-1..3) and prints how to look inside.
#   LAB_PROFILE=release|debug (default release), LAB_APISERVER_PORT (default 16443),
#   LAB_PROJECT (compose project name), LAB_SKIP_BUILD=1 to reuse built binaries.
set -euo pipefail
source "$(dirname "$0")/common.sh"
require_engine
bash "$root/deploy/image/build.sh" "${LAB_PROFILE:-release}"
compose up -d
fetch_admin_kubeconfig
cat <<MSG

The lab cluster is starting (project $project; apiserver on https://127.0.0.1:$port).
Look inside:
  KUBECONFIG=$out/admin.kubeconfig kubectl get csr,nodes
Logs:      docker-compose -p $project -f $here/docker-compose.yml logs -f   (or docker compose ...)
Tear down: bash $here/down.sh
MSG
