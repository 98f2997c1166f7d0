//! Signing CAs as operators make them: `cfssl gencert -initca` (SEC1 EC and PKCS#1 RSA keys),
//! `openssl` RSA (PKCS#1 and PKCS#8) and ECDSA (SEC1); and a CA replaced on disk is picked up
//! without a restart.

#[path = "controller_manager_common.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const USAGES: [&str; 2] = ["digital signature", "client auth"];

/// Makes a CA in `<dir>/<name>/` with `script`, which must write `ca.pem` and `ca-key.pem`.
fn make_ca(setup: &Setup, name: &str, script: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = setup.cluster.dir().join(name);
    std::fs::create_dir_all(&dir)?;
    sh(&dir, script)?;
    Ok((dir.join("ca.pem"), dir.join("ca-key.pem")))
}

const CFSSL_ECDSA: &str = r#"echo '{"CN":"cfssl-ecdsa-ca","key":{"algo":"ecdsa","size":256},"names":[{"O":"e2e"}],"ca":{"expiry":"87600h"}}' > csr.json && cfssl gencert -initca csr.json 2>/dev/null | cfssljson -bare ca && grep -q 'BEGIN EC PRIVATE KEY' ca-key.pem"#;
const CFSSL_RSA: &str = r#"echo '{"CN":"cfssl-rsa-ca","key":{"algo":"rsa","size":2048},"names":[{"O":"e2e"}],"ca":{"expiry":"87600h"}}' > csr.json && cfssl gencert -initca csr.json 2>/dev/null | cfssljson -bare ca && grep -q 'BEGIN RSA PRIVATE KEY' ca-key.pem"#;
const OPENSSL_RSA_PKCS1: &str = "openssl genrsa -traditional -out ca-key.pem 2048 2>/dev/null && grep -q 'BEGIN RSA PRIVATE KEY' ca-key.pem && openssl req -x509 -new -key ca-key.pem -out ca.pem -days 3650 -subj /CN=openssl-rsa-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature";
const OPENSSL_RSA_PKCS8: &str = "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 3650 -subj /CN=openssl-rsa8-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && grep -q 'BEGIN PRIVATE KEY' ca-key.pem";
const OPENSSL_ECDSA: &str = "openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem && grep -q 'BEGIN EC PRIVATE KEY' ca-key.pem && openssl req -x509 -new -key ca-key.pem -out ca.pem -days 3650 -subj /CN=openssl-ecdsa-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";

#[test]
fn cfssl_and_openssl_cas_all_sign() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let bootstrap = setup.token_client()?;
    for (i, (name, script)) in [
        ("cfssl-ecdsa", CFSSL_ECDSA),
        ("cfssl-rsa", CFSSL_RSA),
        ("openssl-rsa-pkcs1", OPENSSL_RSA_PKCS1),
        ("openssl-rsa-pkcs8", OPENSSL_RSA_PKCS8),
        ("openssl-ecdsa", OPENSSL_ECDSA),
    ]
    .into_iter()
    .enumerate()
    {
        let (cert, key) = make_ca(&setup, name, script)?;
        // Per-signer files this time: only the kubelet client signer has a CA.
        let port = e2e::free_loopback_port()?;
        let args = vec![
            format!("--kubeconfig={}", setup.kubeconfig.display()),
            format!(
                "--cluster-signing-kubelet-client-cert-file={}",
                cert.display()
            ),
            format!(
                "--cluster-signing-kubelet-client-key-file={}",
                key.display()
            ),
            "--leader-elect=false".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={port}"),
        ];
        let mut process =
            e2e::spawn_controller_manager(&setup.cluster, &format!("cm-{name}.log"), &args)?;
        let csr = format!("node-csr-{name}");
        create(
            &bootstrap,
            &csr_manifest(&csr, &format!("system:node:n{i}"), CLIENT, &USAGES, &[])?,
        )?;
        let issued = setup.wait_issued(&csr, Duration::from_secs(20));
        let log = process.log_tail(3000);
        let (pem, _) = issued.map_err(|e| e.context(format!("{name}: log:\n{log}")))?;
        openssl_verify(
            setup.cluster.dir(),
            &cert,
            &pem,
            &format!("{name}-leaf.pem"),
        )?;
        process.kill();
    }
    Ok(())
}

#[test]
fn a_ca_replaced_on_disk_is_used_without_a_restart() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let (first_cert, _) = make_ca(&setup, "first", OPENSSL_ECDSA)?;
    let (second_cert, _) = make_ca(&setup, "second", CFSSL_RSA)?;
    let live = setup.cluster.dir().join("live");
    std::fs::create_dir_all(&live)?;
    sh(
        &live,
        "cp ../first/ca.pem ca.pem && cp ../first/ca-key.pem ca-key.pem",
    )?;
    let port = e2e::free_loopback_port()?;
    let args = vec![
        format!("--kubeconfig={}", setup.kubeconfig.display()),
        format!(
            "--cluster-signing-cert-file={}",
            live.join("ca.pem").display()
        ),
        format!(
            "--cluster-signing-key-file={}",
            live.join("ca-key.pem").display()
        ),
        "--leader-elect=false".to_string(),
        "--cluster-signing-reload-interval=200ms".to_string(),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
    ];
    let process = e2e::spawn_controller_manager(&setup.cluster, "cm.log", &args)?;
    let bootstrap = setup.token_client()?;
    create(
        &bootstrap,
        &csr_manifest("before", "system:node:before", CLIENT, &USAGES, &[])?,
    )?;
    let (pem, _) = setup.wait_issued("before", Duration::from_secs(20))?;
    openssl_verify(setup.cluster.dir(), &first_cert, &pem, "before.pem")?;

    // Replace both files atomically (write aside, rename over), as deployment tools do.
    sh(
        &live,
        "cp ../second/ca.pem ca.pem.new && cp ../second/ca-key.pem ca-key.pem.new && mv ca-key.pem.new ca-key.pem && mv ca.pem.new ca.pem",
    )?;
    let log = || process.log_tail(4000);
    e2e::wait::until(
        "the reload to be logged",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            Ok(log()
                .contains("loaded a new signing CA from disk")
                .then_some(()))
        },
    )?;
    create(
        &bootstrap,
        &csr_manifest("after", "system:node:after", CLIENT, &USAGES, &[])?,
    )?;
    let (pem, _) = setup.wait_issued("after", Duration::from_secs(10))?;
    openssl_verify(setup.cluster.dir(), &second_cert, &pem, "after.pem")?;

    // A broken replacement is refused and the last good CA keeps signing.
    std::fs::write(live.join("ca-key.pem"), "not a key")?;
    create(
        &bootstrap,
        &csr_manifest("broken", "system:node:broken", CLIENT, &USAGES, &[])?,
    )?;
    let (pem, _) = setup.wait_issued("broken", Duration::from_secs(10))?;
    openssl_verify(setup.cluster.dir(), &second_cert, &pem, "broken.pem")?;
    e2e::wait::until(
        "the refusal to be logged",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            Ok(log()
                .contains("still signing with the previous CA")
                .then_some(()))
        },
    )?;
    Ok(())
}
