//! Shared by the integration tests: a real CA PEM from openssl and a kubectl runner that
//! only ever touches the kubeconfig it is given.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::Command;

/// A self-signed P-256 certificate and its key, made by openssl in `dir`.
pub struct TestPki {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

pub fn openssl_pki(dir: &Path) -> TestPki {
    let cert = dir.join("openssl-cert.pem");
    let key = dir.join("openssl-key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=test", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl must be installed");
    assert!(status.status.success(), "openssl failed: {status:?}");
    TestPki {
        cert_pem: std::fs::read(&cert).unwrap(),
        key_pem: std::fs::read(&key).unwrap(),
    }
}

/// Runs `kubectl <args> --kubeconfig=<kubeconfig>` in `cwd` with HOME pointed at `cwd`,
/// so nothing can touch the user's ~/.kube. Panics with kubectl's stderr on failure.
pub fn kubectl(cwd: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .args(args)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl must be installed");
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `kubectl config view --raw -o json` parsed.
pub fn kubectl_view(cwd: &Path, kubeconfig: &Path) -> serde_json::Value {
    let json = kubectl(cwd, kubeconfig, &["config", "view", "--raw", "-o", "json"]);
    serde_json::from_str(&json).unwrap()
}

/// Entry `name` of list `list` (`clusters`, `users`, `contexts`) in kubectl's JSON view.
pub fn entry<'a>(view: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    view[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} missing in {view}"))
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{list} has no {name} in {view}"))
}
