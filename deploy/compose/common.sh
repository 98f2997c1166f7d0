# Shared by up.sh, down.sh and smoke.sh: which compose to run, the project name, where the
# host-side copy of the admin kubeconfig goes.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
project="${LAB_PROJECT:-kubelet-tls-lab}"
port="${LAB_APISERVER_PORT:-16443}"
out="${LAB_OUT:-$here/.state/$project}"
export LAB_APISERVER_PORT="$port"

require_engine() {
  if ! command -v docker >/dev/null 2>&1; then
    echo "error: Docker is not installed (no docker CLI); use 'lab up' for the local lab instead" >&2
    exit 1
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "error: the Docker engine is missing or not answering ('docker info' failed); start dockerd, or use 'lab up' instead" >&2
    exit 1
  fi
}

# `docker compose` (v2) when present, else `docker-compose` (1.29).
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" -f "$here/docker-compose.yml" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -p "$project" -f "$here/docker-compose.yml" "$@"
  else
    echo "error: neither 'docker compose' nor 'docker-compose' is installed" >&2
    return 1
  fi
}

# Copies the admin kubeconfig out of the state volume and points it at the published port.
fetch_admin_kubeconfig() {
  local container
  container="$(compose ps -q apiserver)"
  [ -n "$container" ] || { echo "error: no apiserver container" >&2; return 1; }
  mkdir -p "$out"
  docker cp "$container:/var/lib/lab/state/admin.kubeconfig" "$out/admin.kubeconfig"
  chmod 600 "$out/admin.kubeconfig"
  kubectl --kubeconfig "$out/admin.kubeconfig" config set-cluster lab \
    --server "https://127.0.0.1:$port" >/dev/null
}
