//! Every bad input gets its own precise error, never a panic.

use std::fs;
use std::path::Path;

use kubeconfig::{Identity, Kubeconfig, KubeconfigError};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const PEM_B64: &str =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

/// A config with one context `ctx` -> cluster `c` / user `u`, with the given bodies.
fn config(cluster_body: &str, user_body: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters:\n- name: c\n  cluster:\n{cluster_body}\
         contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n{user_body}"
    )
}

fn resolve_err(text: &str, base: &Path) -> KubeconfigError {
    Kubeconfig::from_yaml(text, base)
        .unwrap()
        .resolve(None)
        .unwrap_err()
}

#[test]
fn bad_yaml_reports_its_position() {
    let err = Kubeconfig::from_yaml(
        "apiVersion: v1\nclusters:\n- name: c\n   cluster: {}\n",
        "/",
    )
    .unwrap_err();
    let KubeconfigError::Yaml { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(4));
    assert!(column.is_some());
    assert!(err.to_string().contains("at line 4"), "{err}");

    let err = Kubeconfig::from_yaml("clusters:\n- name: c\n  cluster:\n    server: [1]\n", "/")
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("clusters[0].cluster.server"), "{message}");
    assert!(message.contains("line 4"), "{message}");
}

#[test]
fn a_yaml_error_in_a_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken");
    fs::write(&path, "clusters: 5\n").unwrap();
    let err = Kubeconfig::load(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(matches!(err, KubeconfigError::Yaml { line: Some(1), .. }));
}

#[test]
fn a_missing_kubeconfig_names_the_file() {
    let err = Kubeconfig::load("/nonexistent/kubeconfig").unwrap_err();
    assert!(
        matches!(&err, KubeconfigError::Read { path, .. } if path == Path::new("/nonexistent/kubeconfig"))
    );
}

#[test]
fn wrong_api_version_or_kind_is_refused_and_empty_ones_are_filled_in() {
    let err = Kubeconfig::from_yaml("apiVersion: v2\n", "/").unwrap_err();
    assert!(
        matches!(
            err,
            KubeconfigError::UnsupportedType {
                field: "apiVersion",
                ..
            }
        ),
        "{err:?}"
    );
    let err = Kubeconfig::from_yaml("kind: Pod\n", "/").unwrap_err();
    assert!(
        matches!(err, KubeconfigError::UnsupportedType { field: "kind", .. }),
        "{err:?}"
    );
    for empty in [
        "",
        "# nothing\n",
        "contexts: null\nusers: null\nclusters: null\npreferences: null\n",
    ] {
        let config = Kubeconfig::from_yaml(empty, "/").unwrap();
        assert_eq!(
            (config.api_version.as_str(), config.kind.as_str()),
            ("v1", "Config")
        );
        assert!(matches!(
            config.resolve(None),
            Err(KubeconfigError::NoCurrentContext)
        ));
    }
}

#[test]
fn bad_base64_is_refused_at_load_naming_the_entry_and_field() {
    let text = config(
        "    server: https://h\n",
        "    client-certificate-data: not*base64\n    client-key-data: QUJD\n",
    );
    let err = Kubeconfig::from_yaml(&text, "/").unwrap_err();
    let KubeconfigError::InvalidBase64 {
        kind, name, field, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*kind, name.as_str(), *field),
        ("user", "u", "client-certificate-data")
    );
}

#[test]
fn missing_context_cluster_and_user_are_named() {
    let text = config("    server: https://h\n", "    token: t\n");
    let config = Kubeconfig::from_yaml(&text, "/").unwrap();
    let err = config.resolve(Some("other")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "context was not found for specified context: other"
    );

    let err = resolve_err(
        &text.replace("    cluster: c\n", "    cluster: gone\n"),
        Path::new("/"),
    );
    assert_eq!(
        err.to_string(),
        r#"cluster "gone" was not found for context "ctx""#
    );

    let err = resolve_err(
        &text.replace("    user: u\n", "    user: gone\n"),
        Path::new("/"),
    );
    assert_eq!(
        err.to_string(),
        r#"user "gone" was not found for context "ctx""#
    );

    let err = resolve_err(&text.replace("    cluster: c\n", ""), Path::new("/"));
    assert!(
        matches!(err, KubeconfigError::ContextWithoutCluster { .. }),
        "{err:?}"
    );

    // A context without a user is anonymous, as for kubectl.
    let anonymous = Kubeconfig::from_yaml(&text.replace("    user: u\n", ""), "/").unwrap();
    assert_eq!(anonymous.resolve(None).unwrap().identity, Identity::None);
}

#[test]
fn server_problems_are_named() {
    let err = resolve_err(
        &config("    insecure-skip-tls-verify: true\n", "    token: t\n"),
        Path::new("/"),
    );
    assert_eq!(err.to_string(), r#"no server found for cluster "c""#);
    let err = resolve_err(
        &config("    server: ftp://h\n", "    token: t\n"),
        Path::new("/"),
    );
    assert!(
        matches!(err, KubeconfigError::InvalidServer { .. }),
        "{err:?}"
    );
    let err = resolve_err(
        &config("    server: \"https://[bad\"\n", "    token: t\n"),
        Path::new("/"),
    );
    assert!(
        matches!(err, KubeconfigError::InvalidServer { .. }),
        "{err:?}"
    );
    // client-go assumes https for a bare host:port.
    let config = Kubeconfig::from_yaml(
        &config("    server: 10.0.0.1:6443\n", "    token: t\n"),
        "/",
    )
    .unwrap();
    assert_eq!(
        config.resolve(None).unwrap().server.as_str(),
        "https://10.0.0.1:6443/"
    );
}

#[test]
fn conflicting_or_incomplete_tls_settings_are_refused() {
    let both = config(
        &format!(
            "    server: https://h\n    certificate-authority: ca.pem\n    certificate-authority-data: {PEM_B64}\n"
        ),
        "    token: t\n",
    );
    let err = resolve_err(&both, Path::new("/"));
    assert_eq!(
        err.to_string(),
        r#"certificate-authority-data and certificate-authority are both specified for cluster "c""#
    );

    let insecure = config(
        &format!(
            "    server: https://h\n    insecure-skip-tls-verify: true\n    certificate-authority-data: {PEM_B64}\n"
        ),
        "    token: t\n",
    );
    assert!(matches!(
        resolve_err(&insecure, Path::new("/")),
        KubeconfigError::InsecureWithCa { .. }
    ));

    let cert_only = config(
        "    server: https://h\n",
        &format!("    client-certificate-data: {PEM_B64}\n"),
    );
    let err = resolve_err(&cert_only, Path::new("/"));
    assert_eq!(
        err.to_string(),
        r#"user "u": client-certificate-data is set but client-key-data or client-key is not"#
    );

    let not_pem = config(
        "    server: https://h\n    certificate-authority-data: QUJD\n",
        "    token: t\n",
    );
    let err = resolve_err(&not_pem, Path::new("/"));
    assert_eq!(
        err.to_string(),
        r#"certificate-authority-data of cluster "c" does not contain PEM data"#
    );
}

#[test]
fn an_unreadable_referenced_file_is_named_with_its_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ca.pem"), PEM).unwrap();
    let text = config(
        "    server: https://h\n    certificate-authority: ca.pem\n",
        "    client-certificate: pki/missing.pem\n    client-key: pki/missing.pem\n",
    );
    let err = resolve_err(&text, dir.path());
    let KubeconfigError::ReferencedFile {
        field,
        path,
        source,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*field, "client-certificate");
    assert_eq!(path, &dir.path().join("pki/missing.pem"));
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains(&dir.path().join("pki/missing.pem").display().to_string())
    );
}

#[test]
fn token_files_are_trimmed_and_must_not_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("tok"), "  secret-token \n").unwrap();
    fs::write(dir.path().join("blank"), "\n").unwrap();
    let text = config("    server: https://h\n", "    tokenFile: tok\n");
    let config_ok = Kubeconfig::from_yaml(&text, dir.path()).unwrap();
    assert_eq!(
        config_ok.resolve(None).unwrap().identity,
        Identity::Token("secret-token".to_owned())
    );
    let err = resolve_err(
        &text.replace("tokenFile: tok", "tokenFile: blank"),
        dir.path(),
    );
    assert!(
        matches!(err, KubeconfigError::EmptyTokenFile { .. }),
        "{err:?}"
    );
    // The literal token wins over the file, as in clientcmd.
    let both = text.replace(
        "    tokenFile: tok\n",
        "    tokenFile: tok\n    token: literal\n",
    );
    let config_both = Kubeconfig::from_yaml(&both, dir.path()).unwrap();
    assert_eq!(
        config_both.resolve(None).unwrap().identity,
        Identity::Token("literal".to_owned())
    );
}

#[test]
fn unsupported_authentication_is_named_not_ignored() {
    for (body, method) in [
        ("    username: a\n    password: b\n", "basic-auth"),
        ("    exec:\n      command: x\n", "exec"),
        ("    auth-provider:\n      name: oidc\n", "auth-provider"),
    ] {
        let err = resolve_err(&config("    server: https://h\n", body), Path::new("/"));
        assert!(
            matches!(&err, KubeconfigError::UnsupportedAuth { method: m, .. } if *m == method),
            "{err:?}"
        );
    }
}

#[test]
fn a_client_certificate_wins_over_a_token() {
    let text = config(
        "    server: https://h\n",
        &format!(
            "    client-certificate-data: {PEM_B64}\n    client-key-data: {PEM_B64}\n    token: t\n"
        ),
    );
    let resolved = Kubeconfig::from_yaml(&text, "/")
        .unwrap()
        .resolve(None)
        .unwrap();
    assert!(matches!(
        resolved.identity,
        Identity::ClientCertificate { .. }
    ));
}

#[test]
fn debug_output_hides_secrets() {
    let text = config(
        "    server: https://h\n",
        &format!(
            "    client-certificate-data: {PEM_B64}\n    client-key-data: {PEM_B64}\n    token: sekrit\n"
        ),
    );
    let config = Kubeconfig::from_yaml(&text, "/").unwrap();
    let resolved = config.resolve(None).unwrap();
    for shown in [format!("{config:?}"), format!("{resolved:?}")] {
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(!shown.contains(PEM_B64), "{shown}");
        assert!(!shown.contains("MIIBfake"), "{shown}");
    }
}
