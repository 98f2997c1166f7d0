//! `lab node revoke` and `lab node replace` (decision 0023): what an operator does when a node's
//! machine is lost, stolen or reinstalled, in one command each, through the API.
//!
//! Both write a CertificateRevocation of the node's user (decision 0022), so the apiserver
//! refuses every client certificate the old machine holds, open connections included, and
//! delete the bootstrap tokens bound to the node (decision 0020), its Node and its Lease.
//! `revoke --block-rejoin` dates the revocation at the end of X.509 time, so no certificate
//! issued later is accepted either and the controller-manager neither approves nor signs one.
//! `replace` lifts such a block and makes a token bound to the name for the new machine; the
//! controller-manager starts that machine's certificate after the revocation, so it is
//! accepted at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use client::{Client, ListParams};
use protocol::coordination::v1::Lease;
use protocol::core::v1::{BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION, Node, Secret};
use protocol::meta::{ObjectMeta, Time};
use protocol::revocation::v1alpha1::{CertificateRevocation, CertificateRevocationSpec};
use time::OffsetDateTime;

use crate::cli::{NodeReplaceArgs, NodeRevokeArgs};
use crate::{api, duration, ops, token};

/// The `issuedBefore` of a revocation that blocks re-joining: the last second X.509 can
/// express (RFC 5280's "no well-defined expiration date").
pub const BLOCK_UNTIL: &str = "9999-12-31T23:59:59Z";
/// Where the kubelet keeps its Lease.
const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The user a node's client certificates name.
pub fn node_user(node: &str) -> String {
    format!("{}{node}", pki::signer::NODE_CN_PREFIX)
}

/// The revocation `lab node revoke` and `replace` create: named after the node, the action
/// and the second, so repeated runs do not collide and `kubectl get certrev` reads as a log.
pub fn revocation(
    node: &str,
    reason: Option<&str>,
    block: bool,
    now: SystemTime,
) -> CertificateRevocation {
    let seconds = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let action = if block { "blocked" } else { "revoked" };
    CertificateRevocation {
        metadata: ObjectMeta {
            name: format!("{node}-{action}-{seconds}"),
            ..Default::default()
        },
        spec: CertificateRevocationSpec {
            serial_numbers: Vec::new(),
            user: Some(node_user(node)),
            // Without a date the apiserver uses the creation time: everything issued so far.
            issued_before: block.then(block_until),
            reason: reason.map(str::to_string),
        },
    }
}

fn block_until() -> Time {
    // A constant that parses; the fallback is never taken.
    Time::parse(BLOCK_UNTIL).unwrap_or_else(|_| Time::from_offset(OffsetDateTime::now_utc()))
}

fn is_token(secret: &Secret) -> bool {
    secret.type_ == token::SECRET_TYPE
}

fn bound_node(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .annotations
        .get(BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION)
        .map(String::as_str)
}

/// The bootstrap-token Secrets bound to `node`.
pub fn bound_tokens<'a>(secrets: &'a [Secret], node: &str) -> Vec<&'a Secret> {
    secrets
        .iter()
        .filter(|s| is_token(s) && bound_node(s) == Some(node))
        .collect()
}

/// The bootstrap-token Secrets bound to no node and not expired: each lets a machine join as
/// any node.
pub fn unbound_valid_tokens(secrets: &[Secret], now: OffsetDateTime) -> Vec<&Secret> {
    secrets
        .iter()
        .filter(|s| is_token(s) && bound_node(s).is_none() && !token_expired(s, now))
        .collect()
}

/// As the apiserver reads `expiration`: an unreadable one counts as expired.
fn token_expired(secret: &Secret, now: OffsetDateTime) -> bool {
    secret
        .bootstrap_token_expiration()
        .is_some_and(|expiration| expiration.map_or(true, |at| at < now))
}

/// The revocations of `user` that refuse certificates issued after `now`: they block it.
pub fn blocking_revocations<'a>(
    revocations: &'a [CertificateRevocation],
    user: &str,
    now: SystemTime,
) -> Vec<&'a CertificateRevocation> {
    revocations
        .iter()
        .filter(|r| r.spec.user.as_deref() == Some(user))
        .filter(|r| {
            r.spec
                .issued_before
                .is_some_and(|before| before.to_system_time() > now)
        })
        .collect()
}

/// What was done, one `kind/name verb` line each, as kubectl prints.
type Lines = Vec<String>;

async fn create_revocation(
    client: &Client,
    node: &str,
    reason: Option<&str>,
    block: bool,
) -> anyhow::Result<String> {
    let first = revocation(node, reason, block, SystemTime::now());
    let mut wanted = first.clone();
    // Two runs in one second (revoke, then replace) get `-2`, `-3`, ... after the name.
    let mut attempt = 1;
    let created = loop {
        match client.create(None, &wanted).await {
            Err(e) if e.is_already_exists() && attempt < 10 => {
                attempt += 1;
                wanted.metadata.name = format!("{}-{attempt}", first.metadata.name);
            }
            result => {
                break result.with_context(|| {
                    format!(
                        "cannot create certificaterevocation {}",
                        wanted.metadata.name
                    )
                })?;
            }
        }
    };
    let user = node_user(node);
    let what = match created.spec.issued_before {
        Some(_) if block => {
            format!("every certificate of {user} is refused, those issued from now on included")
        }
        Some(before) => format!("certificates of {user} issued until {before} are refused"),
        None => format!("certificates of {user} are refused"),
    };
    Ok(format!(
        "certificaterevocation/{} created: {what}",
        created.metadata.name
    ))
}

/// Deletes `name`, saying so; a missing object is reported, not an error.
async fn delete_reported<T: protocol::Resource>(
    client: &Client,
    namespace: Option<&str>,
    name: &str,
    why: &str,
    lines: &mut Lines,
) -> anyhow::Result<()> {
    let kind = <T as protocol::Resource>::KIND.to_ascii_lowercase();
    match client.delete::<T>(namespace, name).await {
        Ok(()) => lines.push(format!("{kind}/{name} deleted{why}")),
        Err(e) if e.is_not_found() => lines.push(format!("{kind}/{name} not found")),
        Err(e) => return Err(e).with_context(|| format!("cannot delete {kind} {name}")),
    }
    Ok(())
}

/// Deletes the tokens bound to `node`; returns every token Secret there was.
async fn delete_bound_tokens(
    client: &Client,
    node: &str,
    lines: &mut Lines,
) -> anyhow::Result<Vec<Secret>> {
    let secrets = client
        .list_all::<Secret>(Some(token::SECRET_NAMESPACE), &ListParams::default())
        .await
        .context("cannot list the bootstrap-token secrets")?
        .items;
    for secret in bound_tokens(&secrets, node) {
        let why = format!(" (a bootstrap token bound to {node})");
        delete_reported::<Secret>(
            client,
            Some(token::SECRET_NAMESPACE),
            &secret.metadata.name,
            &why,
            lines,
        )
        .await?;
    }
    Ok(secrets.into_iter().filter(is_token).collect())
}

async fn delete_node_and_lease(
    client: &Client,
    node: &str,
    lines: &mut Lines,
) -> anyhow::Result<()> {
    delete_reported::<Node>(client, None, node, "", lines).await?;
    delete_reported::<Lease>(client, Some(LEASE_NAMESPACE), node, "", lines).await
}

/// A client for the admin kubeconfig `path`, once the apiserver answers.
async fn admin_client(
    resolved: &kubeconfig::ResolvedConfig,
    path: &Path,
) -> anyhow::Result<Client> {
    let client = api::client_from_resolved(resolved, path)?;
    api::wait_ready(&client, Duration::from_secs(10)).await?;
    Ok(client)
}

/// `lab node revoke`: the report on stdout.
pub async fn revoke(args: &NodeRevokeArgs) -> anyhow::Result<()> {
    let node = &args.target.name;
    let path = &args.target.kubeconfig;
    let client = admin_client(&api::resolve_kubeconfig(path)?, path).await?;
    let reason = args.target.reason.as_deref().or(Some("lab node revoke"));
    let mut lines = vec![create_revocation(&client, node, reason, args.block_rejoin).await?];
    let tokens = delete_bound_tokens(&client, node, &mut lines).await?;
    if !args.keep_node {
        delete_node_and_lease(&client, node, &mut lines).await?;
    }
    if !args.block_rejoin {
        let open = unbound_valid_tokens(&tokens, OffsetDateTime::now_utc());
        if !open.is_empty() {
            let names: Vec<&str> = open.iter().map(|s| s.metadata.name.as_str()).collect();
            lines.push(format!(
                "note: {} bootstrap token(s) bound to no node are still valid ({}): each lets a \
                 machine join as {node} again. To refuse that too: lab node revoke {node} \
                 --block-rejoin",
                open.len(),
                names.join(", ")
            ));
        }
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// The admin kubeconfig's server and CA, for the new machine's bootstrap kubeconfig.
fn cluster_of(
    args: &NodeReplaceArgs,
    resolved: &kubeconfig::ResolvedConfig,
) -> anyhow::Result<(url::Url, String)> {
    let path = &args.target.kubeconfig;
    let server = args.server.clone().unwrap_or(resolved.server.clone());
    let ca_pem = match &args.ca_file {
        Some(file) => ops::read_ca_file(file)?,
        None => resolved
            .ca_pem
            .as_ref()
            .map(|pem| String::from_utf8_lossy(pem).into_owned())
            .with_context(|| format!("{} names no CA; pass --ca-file", path.display()))?,
    };
    Ok((server, ca_pem))
}

/// `lab node replace`: the report on stderr, the new token alone on stdout (as `lab token
/// create` prints it).
pub async fn replace(args: &NodeReplaceArgs) -> anyhow::Result<()> {
    let node = &args.target.name;
    let ttl = duration::parse(&args.ttl).context("--ttl")?;
    let path = &args.target.kubeconfig;
    let resolved = api::resolve_kubeconfig(path)?;
    let (server, ca_pem) = cluster_of(args, &resolved)?;
    let client = admin_client(&resolved, path).await?;
    let reason = args.target.reason.as_deref().or(Some("lab node replace"));
    // Revoke first, then lift a block: the old machine is refused throughout.
    let mut lines = vec![create_revocation(&client, node, reason, false).await?];
    let revocations = client
        .list_all::<CertificateRevocation>(None, &ListParams::default())
        .await
        .context("cannot list the certificate revocations")?
        .items;
    for blocking in blocking_revocations(&revocations, &node_user(node), SystemTime::now()) {
        let why = format!(" (it blocked {node} from joining)");
        delete_reported::<CertificateRevocation>(
            &client,
            None,
            &blocking.metadata.name,
            &why,
            &mut lines,
        )
        .await?;
    }
    delete_bound_tokens(&client, node, &mut lines).await?;
    delete_node_and_lease(&client, node, &mut lines).await?;
    let created = ops::write_token_files(&ops::NewToken {
        ttl,
        description: Some(format!("replacement machine for node {node}")),
        groups: vec![token::DEFAULT_GROUP.to_string()],
        node_name: Some(node.clone()),
        single_use: !args.reusable,
        server: &server,
        ca_pem: &ca_pem,
        kubeconfig_out: args
            .kubeconfig_out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{node}-bootstrap.kubeconfig"))),
        secret_out: args.secret_out.clone(),
    })?;
    client
        .create(Some(token::SECRET_NAMESPACE), &created.secret)
        .await
        .with_context(|| format!("cannot create secret {}", created.token.secret_name()))?;
    lines.push(format!(
        "secret/{} created (a {}bootstrap token bound to {node}, valid {})",
        created.token.secret_name(),
        if args.reusable { "" } else { "single-use " },
        if ttl.is_zero() {
            "without end".to_string()
        } else {
            format!("for {}", args.ttl)
        }
    ));
    lines.push(format!(
        "wrote {}: start the new machine's kubelet-agent with --bootstrap-kubeconfig={}",
        created.kubeconfig.display(),
        created.kubeconfig.display()
    ));
    for line in lines {
        eprintln!("{line}");
    }
    println!("{}", created.token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn token_secret(name: &str, bound: Option<&str>, expiration: Option<&str>) -> Secret {
        let mut secret = Secret {
            metadata: ObjectMeta {
                name: name.to_string(),
                namespace: token::SECRET_NAMESPACE.to_string(),
                ..Default::default()
            },
            type_: token::SECRET_TYPE.to_string(),
            ..Default::default()
        };
        if let Some(node) = bound {
            secret.metadata.annotations = BTreeMap::from([(
                BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION.to_string(),
                node.to_string(),
            )]);
        }
        if let Some(at) = expiration {
            secret
                .data
                .insert("expiration".to_string(), at.as_bytes().to_vec());
        }
        secret
    }

    #[test]
    fn a_revocation_names_the_node_s_user_and_blocks_only_when_asked() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let revoked = revocation("node-1", Some("stolen"), false, at);
        assert_eq!(revoked.metadata.name, "node-1-revoked-1800000000");
        assert_eq!(revoked.spec.user.as_deref(), Some("system:node:node-1"));
        assert_eq!(revoked.spec.issued_before, None, "the apiserver dates it");
        assert_eq!(revoked.spec.reason.as_deref(), Some("stolen"));
        let blocked = revocation("node-1", None, true, at);
        assert_eq!(blocked.metadata.name, "node-1-blocked-1800000000");
        assert_eq!(
            blocked.spec.issued_before.map(|t| t.to_string()),
            Some(BLOCK_UNTIL.to_string())
        );
    }

    #[test]
    fn only_tokens_bound_to_the_node_are_its_own() {
        let secrets = vec![
            token_secret("bootstrap-token-aaaaaa", Some("node-1"), None),
            token_secret("bootstrap-token-bbbbbb", Some("node-2"), None),
            token_secret("bootstrap-token-cccccc", None, None),
            Secret {
                type_: "Opaque".to_string(),
                ..token_secret("not-a-token", Some("node-1"), None)
            },
        ];
        let names: Vec<&str> = bound_tokens(&secrets, "node-1")
            .iter()
            .map(|s| s.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["bootstrap-token-aaaaaa"]);
    }

    #[test]
    fn unbound_tokens_count_until_they_expire() {
        let now = OffsetDateTime::parse(
            "2026-12-07T06:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let secrets = vec![
            token_secret("bootstrap-token-nolimit", None, None),
            token_secret("bootstrap-token-later", None, Some("2026-12-08T00:00:00Z")),
            token_secret("bootstrap-token-gone", None, Some("2026-12-01T00:00:00Z")),
            token_secret("bootstrap-token-garbled", None, Some("tomorrow")),
            token_secret("bootstrap-token-bound", Some("node-1"), None),
        ];
        let names: Vec<&str> = unbound_valid_tokens(&secrets, now)
            .iter()
            .map(|s| s.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["bootstrap-token-nolimit", "bootstrap-token-later"]);
    }

    #[test]
    fn a_revocation_blocks_while_its_date_is_to_come() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let dated = |name: &str, user: &str, seconds: i64| CertificateRevocation {
            metadata: ObjectMeta {
                name: name.to_string(),
                ..Default::default()
            },
            spec: CertificateRevocationSpec {
                user: Some(user.to_string()),
                issued_before: Some(Time::from_offset(
                    OffsetDateTime::from_unix_timestamp(seconds).unwrap(),
                )),
                ..Default::default()
            },
        };
        let revocations = vec![
            dated("past", "system:node:node-1", 1_700_000_000),
            dated("future", "system:node:node-1", 1_900_000_000),
            dated("other", "system:node:node-2", 1_900_000_000),
            CertificateRevocation {
                spec: CertificateRevocationSpec {
                    serial_numbers: vec!["01".to_string()],
                    ..Default::default()
                },
                ..dated("serials", "", 0)
            },
        ];
        let names: Vec<&str> = blocking_revocations(&revocations, "system:node:node-1", now)
            .iter()
            .map(|r| r.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["future"]);
    }
}
