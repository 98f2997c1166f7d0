#!/usr/bin/env bash
# Smoke test of the compose lab cluster (run by .ci/run when `docker info` answers):
#  1. build the image and bring the cluster up;
#  2. wait until node-1..3 have issued client certificates and are Ready in `kubectl get nodes`;
#  3. stop the apiserver container, start it again;
#  4. check the nodes are still Ready and every node heartbeats (renews its Lease) through the
#     restarted apiserver;
#  5. rotate the cluster CA with `lab ca rotate` and check every node is on the new CA, Ready;
#  6. tear everything down, always (trap), volumes included.
# Traffic stays on the private compose network and 127.0.0.1 (the published apiserver port).
#   LAB_PROFILE=debug by default (reuses what scripts/test.sh built); LAB_APISERVER_PORT=16543.
set -euo pipefail
export LAB_PROJECT="${LAB_PROJECT:-kubelet-tls-lab-smoke}"
export LAB_APISERVER_PORT="${LAB_APISERVER_PORT:-16543}"
source "$(dirname "$0")/common.sh"
require_engine
command -v kubectl >/dev/null || { echo "error: kubectl is needed" >&2; exit 1; }

nodes=(node-1 node-2 node-3)
kc() { kubectl --kubeconfig "$out/admin.kubeconfig" --request-timeout=10s "$@"; }

teardown() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "--- smoke test failed; cluster state and logs:" >&2
    kc get csr,nodes 2>&1 | sed 's/^/  /' >&2 || true
    compose logs --tail=40 2>&1 | sed 's/^/  /' >&2 || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$out"
  exit "$status"
}
trap teardown EXIT

# Polls "$@" every 2 s until it succeeds or $1 seconds pass.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: timed out after ${timeout}s waiting for $what" >&2
      return 1
    fi
    sleep 2
  done
  echo "ok: $what"
}

all_ready() {
  local ready
  ready="$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')"
  for node in "${nodes[@]}"; do grep -qx "$node=True" <<<"$ready" || return 1; done
}

all_issued() {
  local issued
  issued="$(kc get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kube-apiserver-client-kubelet")]}{.status.certificate}{"\n"}{end}' | grep -c .)"
  [ "$issued" -ge "${#nodes[@]}" ]
}

# Serving certificates too: csrapproving's selfnodeserver recognizer (the seeded opt-in).
all_serving_issued() {
  local issued
  issued="$(kc get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.status.certificate}{"\n"}{end}' | grep -c .)"
  [ "$issued" -ge "${#nodes[@]}" ]
}

# Every node Lease renewed after $1 (epoch seconds).
all_renewed_since() {
  local since=$1 line name renew
  local leases
  leases="$(kc get leases -n kube-node-lease -o jsonpath='{range .items[*]}{.metadata.name} {.spec.renewTime}{"\n"}{end}')"
  for node in "${nodes[@]}"; do
    line="$(grep "^$node " <<<"$leases")" || return 1
    renew="$(date -d "${line#* }" +%s)" || return 1
    [ "$renew" -gt "$since" ] || return 1
  done
}

LAB_PROFILE="${LAB_PROFILE:-debug}" bash "$here/up.sh"
wait_for 60 "the apiserver on 127.0.0.1:$port" kc get --raw /readyz
wait_for 180 "client certificates issued for ${nodes[*]}" all_issued
wait_for 120 "${nodes[*]} Ready in kubectl get nodes" all_ready
wait_for 60 "serving certificates issued for ${nodes[*]}" all_serving_issued
kc get csr,nodes

echo "restarting the apiserver container"
compose stop apiserver
restarted_at=$(date +%s)
compose start apiserver
wait_for 60 "the restarted apiserver" kc get --raw /readyz
wait_for 60 "${nodes[*]} still Ready" all_ready
wait_for 90 "every node heartbeating through the restarted apiserver" all_renewed_since "$restarted_at"
kc get nodes

# The CA rotated with nothing restarted (decision 0029): `lab ca rotate` runs in the init
# container, which mounts the state read-write; the host-side admin kubeconfig is then
# fetched again (new CA, new certificate).
echo "rotating the cluster CA"
old_ca="$(kc get configmap kube-root-ca.crt -n kube-public -o jsonpath='{.data.ca\.crt}')"
compose run --rm -T init lab ca rotate --state-dir=/var/lib/lab/state --timeout=180s
fetch_admin_kubeconfig
new_ca="$(kc get configmap kube-root-ca.crt -n kube-public -o jsonpath='{.data.ca\.crt}')"
[ -n "$new_ca" ] && [ "$new_ca" != "$old_ca" ] || { echo "error: kube-root-ca.crt did not change" >&2; exit 1; }
new_issuer="X509SHA256=$(openssl x509 -outform der <<<"$new_ca" | sha256sum | cut -d' ' -f1)"
on_new_ca() {
  local issuers
  issuers="$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.kubelet-tls-bootstrap/client-certificate-issuer}{"\n"}{end}')"
  for node in "${nodes[@]}"; do grep -qx "$node=$new_issuer" <<<"$issuers" || return 1; done
}
wait_for 10 "${nodes[*]} on the new CA" on_new_ca
wait_for 60 "${nodes[*]} Ready after the CA rotation" all_ready
kc get nodes
echo "compose smoke test passed"
