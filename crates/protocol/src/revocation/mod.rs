//! `revocation.kubelet-tls-bootstrap.io`: ours, not an upstream group (decision 0022).

pub mod v1alpha1;
