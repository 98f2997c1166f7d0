//! The secure port's client CA looked up in the cluster, as upstream's delegated
//! authentication does without `--client-ca-file` (`--authentication-skip-lookup=false`, the
//! default): the apiserver publishes its `--client-ca-file` as `client-ca-file` in the
//! ConfigMap `kube-system/extension-apiserver-authentication`, and the port verifies client
//! certificates with it, following it as it changes (a CA rotation, decision 0029).
//!
//! Until it is found the port asks for no client certificate; tokens still work. Read with
//! the `--authentication-kubeconfig` client, as upstream.

use std::time::Duration;

use client::client_ca::PublishedCa;
use client::{Client, ClientError};
use protocol::core::v1::{
    AUTHENTICATION_CONFIG_MAP as NAME, AUTHENTICATION_CONFIG_MAP_CLIENT_CA_KEY as KEY,
    AUTHENTICATION_CONFIG_MAP_NAMESPACE as NAMESPACE, ConfigMap,
};

/// How the source is named in the port's logs and errors.
pub const SOURCE_NAME: &str = "configmap kube-system/extension-apiserver-authentication";

/// What one look found, for the log (each kind is logged once until it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Bundle(Vec<u8>),
    /// The ConfigMap or its key is missing (an apiserver without `--client-ca-file`).
    Nothing,
    Forbidden,
    Failed(String),
}

fn classify(result: Result<ConfigMap, ClientError>) -> Found {
    match result {
        Ok(config_map) => match config_map.data.get(KEY) {
            Some(pem) if !pem.trim().is_empty() => Found::Bundle(pem.clone().into_bytes()),
            _ => Found::Nothing,
        },
        Err(e) if e.is_not_found() => Found::Nothing,
        Err(e) if e.is_forbidden() => Found::Forbidden,
        Err(e) => Found::Failed(e.to_string()),
    }
}

/// Looks at the ConfigMap every `period` and hands each new bundle to `published`. Runs
/// until its task is dropped.
pub async fn follow(client: Client, published: PublishedCa, period: Duration) {
    let mut last: Option<Found> = None;
    loop {
        let found = classify(client.get::<ConfigMap>(Some(NAMESPACE), NAME).await);
        if last.as_ref() != Some(&found) {
            report(&found);
            if let Found::Bundle(pem) = &found {
                // A bundle that stops being found keeps the last one, as a file that
                // breaks keeps the CAs in use.
                published.set(pem.clone());
            }
            last = Some(found);
        }
        tokio::time::sleep(period).await;
    }
}

fn report(found: &Found) {
    match found {
        Found::Bundle(_) => tracing::info!(
            configmap = %format!("{NAMESPACE}/{NAME}"),
            "client CA found in the cluster: the secure port verifies client certificates with it"
        ),
        Found::Nothing => tracing::info!(
            configmap = %format!("{NAMESPACE}/{NAME}"),
            "no client CA published in the cluster yet: the secure port asks for no client certificate"
        ),
        // Upstream's words and fix (the apiserver seeds that Role).
        Found::Forbidden => tracing::warn!(
            "Unable to get configmap/{NAME} in {NAMESPACE}. Usually fixed by 'kubectl create rolebinding -n {NAMESPACE} ROLEBINDING_NAME --role={} --serviceaccount=YOUR_NS:YOUR_SA'",
            rbac::bootstrap::EXTENSION_AUTHENTICATION_READER_ROLE
        ),
        Found::Failed(error) => tracing::warn!(
            %error,
            "cannot read the client CA published in the cluster; trying again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::meta::Status;

    fn config_map(data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_non_empty_client_ca_file_is_a_bundle() {
        assert_eq!(
            classify(Ok(config_map(&[(KEY, "-----BEGIN CERTIFICATE-----\n")]))),
            Found::Bundle(b"-----BEGIN CERTIFICATE-----\n".to_vec())
        );
        assert_eq!(classify(Ok(config_map(&[(KEY, " \n")]))), Found::Nothing);
        assert_eq!(
            classify(Ok(config_map(&[("requestheader-client-ca-file", "x")]))),
            Found::Nothing
        );
        assert_eq!(
            classify(Err(ClientError::api(Status::not_found(
                "",
                "configmaps",
                NAME
            )))),
            Found::Nothing
        );
        assert_eq!(
            classify(Err(ClientError::api(Status::forbidden(
                "",
                "configmaps",
                NAME,
                "no"
            )))),
            Found::Forbidden
        );
        assert!(matches!(
            classify(Err(ClientError::Transport("refused".into()))),
            Found::Failed(_)
        ));
    }
}
