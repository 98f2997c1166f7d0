//! The built binary: flag and file errors are one line on stderr with a non-zero exit; a good
//! start serves /healthz (checked with curl) and SIGTERM stops it cleanly.

mod serving_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serving_support::TestPki;

const BINARY: &str = env!("CARGO_BIN_EXE_apiserver");

fn run(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run apiserver")
}

/// Exits non-zero with exactly one stderr line containing `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exited 0, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(
        lines[0].contains(needle),
        "{:?} does not mention {needle:?}",
        lines[0]
    );
}

fn tls_flags(dir: &Path) -> Vec<String> {
    let files = TestPki::new().write_files(dir);
    vec![
        format!("--tls-cert-file={}", files.serving_cert.display()),
        format!("--tls-private-key-file={}", files.serving_key.display()),
        format!("--client-ca-file={}", files.ca.display()),
        format!("--data-dir={}", dir.join("data").display()),
        "--bind-address=127.0.0.1".to_string(),
    ]
}

fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut flags = tls_flags(dir.path());
    flags.push("--token-auth-file=/nonexistent/tokens.csv".into());
    assert_one_line_error(&run(&strs(&flags)), "/nonexistent/tokens.csv");

    let missing_key = [
        format!(
            "--tls-cert-file={}",
            dir.path().join("apiserver.crt").display()
        ),
        "--tls-private-key-file=/nonexistent/apiserver.key".to_string(),
        "--data-dir=/tmp/unused".to_string(),
    ];
    assert_one_line_error(&run(&strs(&missing_key)), "/nonexistent/apiserver.key");
    assert_one_line_error(&run(&["--data-dir=/tmp/unused"]), "--tls-cert-file");
}

#[test]
fn malformed_token_file_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "t1,alice,1\nt2,bob\n").expect("write");
    let mut flags = tls_flags(dir.path());
    flags.push(format!("--token-auth-file={}", tokens.display()));
    assert_one_line_error(&run(&strs(&flags)), "line 2 must have at least 3 columns");
}

#[test]
fn bad_flag_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut flags = tls_flags(dir.path());
    flags.push("--authorization-mode=Node,Webhook".into());
    assert_one_line_error(
        &run(&strs(&flags)),
        "unknown authorization mode \"Webhook\"",
    );

    let mut flags = tls_flags(dir.path());
    flags.push("--authorization-mode=Node,ABAC".into());
    assert_one_line_error(
        &run(&strs(&flags)),
        "authorization-mode ABAC's authorization policy file not passed",
    );

    let mut flags = tls_flags(dir.path());
    flags.push("--feature-gates=RotateKubeletServerCertificate=true,NoSuchGate=true".into());
    assert_one_line_error(&run(&strs(&flags)), "unrecognized feature gate: NoSuchGate");

    for (ttl, why) in [("0", "must be positive"), ("1d", "unknown unit \"d\"")] {
        let mut flags = tls_flags(dir.path());
        flags.push(format!("--event-ttl={ttl}"));
        assert_one_line_error(&run(&strs(&flags)), why);
    }

    let mut flags = tls_flags(dir.path());
    flags.push("--secure-port=http".into());
    assert_one_line_error(&run(&strs(&flags)), "--secure-port");

    let mut flags = tls_flags(dir.path());
    flags.push("--anonymous-auth=sometimes".into());
    assert_one_line_error(&run(&strs(&flags)), "--anonymous-auth");

    // A key that does not belong to the certificate.
    let other = TestPki::new();
    let wrong_key = dir.path().join("wrong.key");
    std::fs::write(&wrong_key, &other.serving.key_pem).expect("write");
    let mut flags = tls_flags(dir.path());
    flags.retain(|f| !f.starts_with("--tls-private-key-file="));
    flags.push(format!("--tls-private-key-file={}", wrong_key.display()));
    assert_one_line_error(&run(&strs(&flags)), "wrong.key");
}

#[test]
fn busy_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut flags = tls_flags(dir.path());
    flags.push(format!("--secure-port={port}"));
    assert_one_line_error(
        &run(&strs(&flags)),
        &format!("failed to listen on 127.0.0.1:{port}"),
    );
}

#[test]
fn serves_healthz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let mut flags = tls_flags(dir.path());
    flags.push(format!("--secure-port={port}"));
    // The gate list every component shares is accepted (and logged).
    flags.push("--feature-gates=RotateKubeletClientCertificate=true".into());
    let mut child = Command::new(BINARY)
        .args(&flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let url = format!("https://localhost:{port}/healthz");
    let ca = dir.path().join("ca.crt");
    let mut body = String::new();
    for _ in 0..100 {
        let curl = Command::new("curl")
            .args(["-sS", "--max-time", "2", "--cacert"])
            .arg(&ca)
            .arg(&url)
            .output()
            .expect("curl");
        if curl.status.success() {
            body = String::from_utf8_lossy(&curl.stdout).into_owned();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    let mut log = String::new();
    // Read only once it has exited: the pipe ends then.
    if let Some(mut stderr) = child.stderr.take().filter(|_| status.is_some()) {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
    }
    assert!(
        log.contains("Setting GA feature gate RotateKubeletClientCertificate=true."),
        "{log}"
    );
    assert_eq!(body, "ok");
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}
