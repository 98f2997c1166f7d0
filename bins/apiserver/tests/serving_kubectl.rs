//! The real kubectl against the in-process server: `kubectl version` and raw health checks
//! with the admin certificate, and what it prints for a certificate from another CA.

mod serving_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serving_support::{PkiFiles, TestServer};

fn kubectl_dir() -> Option<PathBuf> {
    let path = which("kubectl")?;
    let real = std::fs::canonicalize(path).ok()?;
    real.parent().map(Path::to_path_buf)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The default kubectl plus the oldest and newest installed minor versions.
fn kubectls() -> Vec<PathBuf> {
    let Some(dir) = kubectl_dir() else {
        return Vec::new();
    };
    ["kubectl", "kubectl.1.27", "kubectl.1.33"]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect()
}

fn kubeconfig(dir: &Path, server: &str, ca: &Path, cert: &Path, key: &Path) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: user\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: user\ncurrent-context: test\n",
        ca = ca.display(),
        cert = cert.display(),
        key = key.display(),
    );
    let path = dir.join(format!(
        "kubeconfig-{}",
        cert.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn kubectl(binary: &Path, kubeconfig: &Path, home: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(binary);
    command
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--cache-dir={}", home.join("cache").display()))
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run kubectl");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What every test here starts from: the installed kubectls, a server, its PKI files and an
/// admin kubeconfig.
struct Setup {
    binaries: Vec<PathBuf>,
    server: TestServer,
    dir: tempfile::TempDir,
    files: PkiFiles,
    admin: PathBuf,
}

impl Setup {
    /// `None` (and a note) when kubectl is not installed.
    async fn start() -> Option<Setup> {
        let binaries = kubectls();
        if binaries.is_empty() {
            eprintln!("kubectl not installed; skipping");
            return None;
        }
        let server = TestServer::start(|_| {}).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let files: PkiFiles = server.pki.write_files(dir.path());
        let admin = kubeconfig(
            dir.path(),
            &server.url(),
            &files.ca,
            &files.admin_cert,
            &files.admin_key,
        );
        Some(Setup {
            binaries,
            server,
            dir,
            files,
            admin,
        })
    }
}

#[tokio::test]
async fn kubectl_version_and_raw_health() {
    let Some(Setup {
        binaries,
        server,
        dir,
        files,
        admin,
    }) = Setup::start().await
    else {
        return;
    };
    let foreign = kubeconfig(
        dir.path(),
        &server.url(),
        &files.ca,
        &files.foreign_cert,
        &files.foreign_key,
    );

    for binary in &binaries {
        let run = kubectl(binary, &admin, dir.path(), &["version", "-o", "json"]).await;
        assert_eq!(run.code, Some(0), "{}: {}", binary.display(), run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("version json");
        assert_eq!(
            json["serverVersion"]["gitVersion"],
            "v1.32.0-tlsboot",
            "{}",
            binary.display()
        );
        assert_eq!(json["serverVersion"]["major"], "1");
        assert_eq!(json["serverVersion"]["minor"], "32");

        let run = kubectl(binary, &admin, dir.path(), &["get", "--raw", "/healthz"]).await;
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (Some(0), "ok"),
            "{}",
            run.stderr
        );

        // A certificate from another CA: the server answers 401, kubectl says so plainly.
        let run = kubectl(binary, &foreign, dir.path(), &["get", "--raw", "/healthz"]).await;
        assert_ne!(run.code, Some(0));
        eprintln!(
            "{} with a foreign certificate: {}",
            binary.display(),
            run.stderr.trim()
        );
        assert_eq!(
            run.stderr.trim(),
            "error: You must be logged in to the server (Unauthorized)",
            "{}",
            binary.display()
        );
    }
    server.stop().await.expect("clean stop");
}

/// ConfigMaps (decision 0029) with the real kubectl: create from a literal, list by the short
/// name, read back as YAML, and an invalid key refused by the server with upstream's message.
#[tokio::test]
async fn kubectl_creates_lists_and_reads_config_maps() {
    let Some(Setup {
        binaries,
        server,
        dir,
        files: _,
        admin,
    }) = Setup::start().await
    else {
        return;
    };
    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(
        &invalid,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  \"a b\": c\n",
    )
    .expect("write manifest");

    for (i, binary) in binaries.iter().enumerate() {
        let name = format!("x{i}");
        let run = kubectl(
            binary,
            &admin,
            dir.path(),
            &["create", "configmap", &name, "--from-literal=a=b"],
        )
        .await;
        assert_eq!(run.code, Some(0), "{}: {}", binary.display(), run.stderr);
        assert_eq!(run.stdout.trim(), format!("configmap/{name} created"));

        let run = kubectl(binary, &admin, dir.path(), &["get", "cm"]).await;
        assert_eq!(run.code, Some(0), "{}: {}", binary.display(), run.stderr);
        let header: Vec<&str> = run
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(header, ["NAME", "DATA", "AGE"], "{}", run.stdout);
        let row = run
            .stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} not listed: {}", run.stdout));
        assert_eq!(row.split_whitespace().nth(1), Some("1"), "{row}");

        let run = kubectl(
            binary,
            &admin,
            dir.path(),
            &["get", "cm", &name, "-o", "yaml"],
        )
        .await;
        assert_eq!(run.code, Some(0), "{}: {}", binary.display(), run.stderr);
        assert!(
            run.stdout.contains("kind: ConfigMap") && run.stdout.contains("data:\n  a: b\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("name: {name}\n")),
            "{}",
            run.stdout
        );

        let run = kubectl(
            binary,
            &admin,
            dir.path(),
            &["create", "-f", invalid.to_str().expect("utf-8 path")],
        )
        .await;
        assert_ne!(run.code, Some(0), "{}", run.stdout);
        assert!(
            run.stderr.contains(r#"The ConfigMap "bad" is invalid: data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters"#),
            "{}: {}",
            binary.display(),
            run.stderr
        );
    }
    // The short name and the plural are the same resource.
    let run = kubectl(
        &binaries[0],
        &admin,
        dir.path(),
        &["get", "configmaps", "-o", "name"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("configmap/x0"), "{}", run.stdout);
    server.stop().await.expect("clean stop");
}

/// The client CA as kube-apiserver publishes it for delegated authentication, read with the
/// command an operator (or a debugging component owner) would use.
#[tokio::test]
async fn kubectl_reads_the_published_client_ca() {
    let Some(Setup {
        binaries,
        server,
        dir,
        files: _,
        admin,
    }) = Setup::start().await
    else {
        return;
    };
    for binary in &binaries {
        let run = kubectl(
            binary,
            &admin,
            dir.path(),
            &[
                "get",
                "configmap",
                "-n",
                "kube-system",
                "extension-apiserver-authentication",
                "-o",
                "jsonpath={.data.client-ca-file}",
            ],
        )
        .await;
        assert_eq!(run.code, Some(0), "{}: {}", binary.display(), run.stderr);
        assert_eq!(run.stdout, server.pki.ca.cert_pem(), "{}", binary.display());
    }
    server.stop().await.expect("clean stop");
}
