//! Against the real kubectl: files kubectl writes resolve correctly, and files we write
//! kubectl reads back with the same values. kubectl always gets `--kubeconfig=<tempfile>`
//! and a temporary HOME.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;
use common::{entry, kubectl, kubectl_view, openssl_pki};
use kubeconfig::{Identity, Kubeconfig};
use url::Url;

const BOOTSTRAP_TOKEN: &str = "07401b.f395accd246ae52d";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &serde_json::Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn bootstrap_kubeconfig_made_by_the_seeds_commands_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let pki = openssl_pki(dir.path());
    fs::write(dir.path().join("ca.pem"), &pki.cert_pem).unwrap();
    let file = dir.path().join("bootstrap.kubeconfig");
    let run = |args: &[&str]| kubectl(dir.path(), &file, args);
    run(&[
        "config",
        "set-cluster",
        "bootstrap",
        "--certificate-authority=ca.pem",
        "--embed-certs=true",
        "--server=https://127.0.0.1:6443",
    ]);
    run(&[
        "config",
        "set-credentials",
        "kubelet-bootstrap",
        &format!("--token={BOOTSTRAP_TOKEN}"),
    ]);
    run(&[
        "config",
        "set-context",
        "bootstrap",
        "--user=kubelet-bootstrap",
        "--cluster=bootstrap",
    ]);
    run(&["config", "use-context", "bootstrap"]);

    let loaded = Kubeconfig::load(&file).unwrap();
    let resolved = loaded.resolve(None).unwrap();
    assert_eq!(resolved.context, "bootstrap");
    assert_eq!(
        resolved.server,
        Url::parse("https://127.0.0.1:6443").unwrap()
    );
    assert_eq!(resolved.ca_pem.as_deref(), Some(pki.cert_pem.as_slice()));
    assert_eq!(
        resolved.identity,
        Identity::Token(BOOTSTRAP_TOKEN.to_owned())
    );
    assert!(!resolved.insecure_skip_tls_verify);
    assert_eq!(resolved.tls_server_name, None);

    // Our builder makes the same file, byte for byte.
    let built = Kubeconfig::with_token(
        "bootstrap",
        &Url::parse("https://127.0.0.1:6443").unwrap(),
        Some(&pki.cert_pem),
        "kubelet-bootstrap",
        BOOTSTRAP_TOKEN,
    );
    assert_eq!(built.to_yaml().unwrap(), fs::read_to_string(&file).unwrap());
}

#[test]
fn relative_file_references_written_by_kubectl_resolve_against_the_files_folder() {
    let root = tempfile::tempdir().unwrap();
    let conf_dir = root.path().join("conf");
    let elsewhere = root.path().join("elsewhere");
    fs::create_dir_all(conf_dir.join("pki")).unwrap();
    fs::create_dir_all(conf_dir.join("tokens")).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    let pki = openssl_pki(root.path());
    let client = openssl_pki(&elsewhere);
    fs::write(conf_dir.join("pki/ca.pem"), &pki.cert_pem).unwrap();
    fs::write(conf_dir.join("pki/client.pem"), &client.cert_pem).unwrap();
    fs::write(conf_dir.join("pki/client-key.pem"), &client.key_pem).unwrap();
    fs::write(conf_dir.join("tokens/node"), "abcdef.0123456789abcdef\n").unwrap();
    let file = conf_dir.join("kubeconfig");
    let abs = |p: &str| conf_dir.join(p).display().to_string();

    // Run from another folder with absolute paths: kubectl stores them relative to the file.
    let run = |args: &[&str]| kubectl(&elsewhere, &file, args);
    run(&[
        "config",
        "set-cluster",
        "c1",
        "--server=https://10.0.0.1:6443",
    ]);
    run(&[
        "config",
        "set-cluster",
        "c1",
        &format!("--certificate-authority={}", abs("pki/ca.pem")),
    ]);
    run(&[
        "config",
        "set-credentials",
        "node",
        &format!("--client-certificate={}", abs("pki/client.pem")),
        &format!("--client-key={}", abs("pki/client-key.pem")),
    ]);
    run(&["config", "set", "users.tokened.tokenFile", "tokens/node"]);
    run(&[
        "config",
        "set-context",
        "cert",
        "--cluster=c1",
        "--user=node",
        "--namespace=ns1",
    ]);
    run(&[
        "config",
        "set-context",
        "tok",
        "--cluster=c1",
        "--user=tokened",
    ]);
    run(&["config", "use-context", "cert"]);
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("certificate-authority: pki/ca.pem"), "{text}");
    assert!(text.contains("client-key: pki/client-key.pem"), "{text}");

    // The test process runs in the crate folder, not in conf/.
    let loaded = Kubeconfig::load(&file).unwrap();
    let resolved = loaded.resolve(None).unwrap();
    assert_eq!(resolved.ca_pem.as_deref(), Some(pki.cert_pem.as_slice()));
    assert_eq!(
        resolved.identity,
        Identity::ClientCertificate {
            cert_pem: client.cert_pem.clone(),
            key_pem: client.key_pem.clone(),
        }
    );
    assert_eq!(resolved.namespace.as_deref(), Some("ns1"));
    let token = loaded.resolve(Some("tok")).unwrap().identity;
    assert_eq!(token, Identity::Token("abcdef.0123456789abcdef".to_owned()));

    // kubectl's own reading of the same references agrees with ours.
    let flat = kubectl(
        &elsewhere,
        &file,
        &["config", "view", "--raw", "--flatten", "-o", "json"],
    );
    let flat: serde_json::Value = serde_json::from_str(&flat).unwrap();
    let cluster = &entry(&flat, "clusters", "c1")["cluster"];
    assert_eq!(unb64(&cluster["certificate-authority-data"]), pki.cert_pem);
    let user = &entry(&flat, "users", "node")["user"];
    assert_eq!(unb64(&user["client-certificate-data"]), client.cert_pem);
    assert_eq!(unb64(&user["client-key-data"]), client.key_pem);
}

#[test]
fn files_we_write_are_read_back_by_kubectl_with_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let pki = openssl_pki(dir.path());
    let server = Url::parse("https://127.0.0.1:6443").unwrap();

    let bootstrap_file = dir.path().join("bootstrap.kubeconfig");
    let bootstrap = Kubeconfig::with_token(
        "bootstrap",
        &server,
        Some(&pki.cert_pem),
        "kubelet-bootstrap",
        BOOTSTRAP_TOKEN,
    );
    bootstrap.save(&bootstrap_file).unwrap();
    let mode = fs::metadata(&bootstrap_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let view = kubectl_view(dir.path(), &bootstrap_file);
    assert_eq!(view["current-context"], "bootstrap");
    let cluster = &entry(&view, "clusters", "bootstrap")["cluster"];
    assert_eq!(cluster["server"], "https://127.0.0.1:6443");
    assert_eq!(unb64(&cluster["certificate-authority-data"]), pki.cert_pem);
    assert_eq!(
        entry(&view, "users", "kubelet-bootstrap")["user"]["token"],
        BOOTSTRAP_TOKEN
    );
    let context = &entry(&view, "contexts", "bootstrap")["context"];
    assert_eq!(context["cluster"], "bootstrap");
    assert_eq!(context["user"], "kubelet-bootstrap");

    // The kubelet's file: both references point at the combined current pem.
    let pem_path = Path::new("/var/lib/kubelet/pki/kubelet-client-current.pem");
    let kubelet_file = dir.path().join("kubelet.kubeconfig");
    let kubelet = Kubeconfig::for_kubelet(&bootstrap.resolve(None).unwrap(), pem_path);
    kubelet.save(&kubelet_file).unwrap();
    let view = kubectl_view(dir.path(), &kubelet_file);
    assert_eq!(view["current-context"], "default-context");
    let cluster = &entry(&view, "clusters", "default-cluster")["cluster"];
    assert_eq!(cluster["server"], "https://127.0.0.1:6443");
    assert_eq!(unb64(&cluster["certificate-authority-data"]), pki.cert_pem);
    let user = &entry(&view, "users", "default-auth")["user"];
    assert_eq!(user["client-certificate"], pem_path.to_str().unwrap());
    assert_eq!(user["client-key"], pem_path.to_str().unwrap());
    let context = &entry(&view, "contexts", "default-context")["context"];
    assert_eq!(context["namespace"], "default");
    assert_eq!(context["user"], "default-auth");

    // Relative references, from the generic builder.
    let files_file = dir.path().join("files.kubeconfig");
    Kubeconfig::with_client_certificate_files(
        "c",
        &server,
        None,
        "u",
        Path::new("pki/c.pem"),
        Path::new("pki/k.pem"),
    )
    .save(&files_file)
    .unwrap();
    let view = kubectl_view(dir.path(), &files_file);
    let user = &entry(&view, "users", "u")["user"];
    assert_eq!(user["client-certificate"], "pki/c.pem");
    assert_eq!(user["client-key"], "pki/k.pem");
}

#[test]
fn names_that_yaml_1_1_reads_as_booleans_or_numbers_reach_kubectl_intact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Url::parse("https://example.test:443/prefix").unwrap();
    let file = dir.path().join("tricky.kubeconfig");
    for name in [
        "yes",
        "on",
        "n",
        "012",
        "1e3",
        "null",
        "~",
        "true",
        "a: b",
        "#x",
        "0x1F",
        "2024-01-01",
        "190:20:30",
        "07401b.f395accd246ae52d",
        "1a",
    ] {
        let config = Kubeconfig::with_token(name, &server, None, name, "0123456789");
        config.save(&file).unwrap();
        let view = kubectl_view(dir.path(), &file);
        assert_eq!(view["current-context"], name);
        assert_eq!(
            entry(&view, "clusters", name)["cluster"]["server"],
            "https://example.test/prefix"
        );
        assert_eq!(entry(&view, "users", name)["user"]["token"], "0123456789");
        assert_eq!(entry(&view, "contexts", name)["context"]["user"], name);
    }
}

#[test]
fn unknown_fields_survive_a_load_save_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let pki = openssl_pki(dir.path());
    let original = format!(
        r#"apiVersion: v1
kind: Config
current-context: exec-ctx
preferences:
  colors: true
extensions:
- name: top-ext
  extension:
    foo: bar
x-vendor-field:
  nested: [1, 2.5, "three", null]
clusters:
- name: c1
  x-entry-note: kept
  cluster:
    server: https://10.1.2.3:6443
    certificate-authority-data: {ca}
    proxy-url: http://proxy.local:3128
    disable-compression: true
    tls-server-name: kubernetes.default
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: x
users:
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: ["--cluster", "c1"]
      env:
      - name: FOO
        value: "yes"
      interactiveMode: Never
      provideClusterInfo: false
    as: admin
    as-groups: [system:masters]
- name: token-user
  user:
    token: abc
contexts:
- name: exec-ctx
  context:
    cluster: c1
    user: exec-user
    namespace: kube-system
    extensions: []
- name: token-ctx
  context:
    cluster: c1
    user: token-user
"#,
        ca = b64(&pki.cert_pem)
    );
    let first = dir.path().join("first.kubeconfig");
    let second = dir.path().join("second.kubeconfig");
    fs::write(&first, &original).unwrap();

    let loaded = Kubeconfig::load(&first).unwrap();
    loaded.save(&second).unwrap();
    let reloaded = Kubeconfig::load(&second).unwrap();
    assert_eq!(reloaded.to_yaml().unwrap(), loaded.to_yaml().unwrap());
    assert_eq!(reloaded.clusters, loaded.clusters);
    assert_eq!(reloaded.users, loaded.users);
    assert_eq!(reloaded.extra["x-vendor-field"]["nested"][1], 2.5);
    assert_eq!(reloaded.clusters[0].extra["x-entry-note"], "kept");
    assert_eq!(
        reloaded.users[0].user.extra["exec"]["env"][0]["value"],
        "yes"
    );
    assert_eq!(reloaded.preferences["colors"], true);

    // kubectl sees exactly the same config in both files.
    assert_eq!(
        kubectl_view(dir.path(), &second),
        kubectl_view(dir.path(), &first)
    );

    // The one supported context in there still resolves, with the extras intact.
    let resolved = reloaded.resolve(Some("token-ctx")).unwrap();
    assert_eq!(
        resolved.proxy_url.as_deref(),
        Some("http://proxy.local:3128")
    );
    assert_eq!(
        resolved.tls_server_name.as_deref(),
        Some("kubernetes.default")
    );
    assert_eq!(resolved.identity, Identity::Token("abc".to_owned()));
}
