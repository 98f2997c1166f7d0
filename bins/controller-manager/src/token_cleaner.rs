//! `tokencleaner`: kube-controller-manager's controller that deletes expired bootstrap tokens
//! (off by default, as upstream; kubeadm runs it with `--controllers=*,bootstrapsigner,tokencleaner`),
//! and ours for single-use tokens (decision 0026, peers-and-pain-points #4):
//!
//! - a single-use token is deleted once the node it was used for is up: a client certificate
//!   requested with it was issued and that node's Lease was renewed since the approval. Until
//!   then a kubelet that restarts while it waits can still fetch its certificate with it;
//! - while such a join is under way (a request made with it is open, or issued and its node not
//!   seen yet), the token is kept from expiring: its `expiration` is moved to at least
//!   [`KEEP_VALID_WHILE_JOINING`] ahead, so a short TTL does not strand a machine that waits
//!   for a person to approve it.
//!
//! The tokens come from a watch of `kube-system` Secrets of type `bootstrap.kubernetes.io/token`;
//! a CSR made with a token queues that token again (the CSR informer's sink).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use client::{Client, ListParams, WatchEvent};
use protocol::certificates::v1::{CONDITION_APPROVED, CertificateSigningRequest};
use protocol::coordination::v1::Lease;
use protocol::core::v1::{
    BOOTSTRAP_TOKEN_SECRET_TYPE, BOOTSTRAP_TOKEN_USER_PREFIX, Event, EventSource, ObjectReference,
    Secret,
};
use protocol::meta::{DeleteOptions, ObjectMeta, Preconditions, Time};

use crate::csr::{is_denied, is_failed, is_issued};
use crate::explain::REPORTING_COMPONENT;
use crate::informer::{CsrCache, Follow};
use crate::queue::WorkQueue;
use crate::token_binding::{self, is_single_use};
use crate::worker::{Handler, SyncError};

/// Where bootstrap tokens live.
pub const TOKEN_NAMESPACE: &str = "kube-system";
/// Where kubelets keep their Leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
const EXPIRATION_KEY: &str = "expiration";
const TOKEN_ID_KEY: &str = "token-id";
/// A single-use token under way keeps at least this long before it expires; it is moved when
/// less than half is left.
pub const KEEP_VALID_WHILE_JOINING: Duration = Duration::from_secs(10 * 60);
/// How often an issued request's node is looked for while it has not renewed its Lease.
pub const JOIN_POLL: Duration = Duration::from_secs(5);

/// The queue key of the token a CSR was made with: `bootstrap-token-<id>`.
pub fn token_key(csr: &CertificateSigningRequest) -> Option<String> {
    token_binding::token_id(&csr.spec.username).map(|id| format!("bootstrap-token-{id}"))
}

/// When a token expires, read as upstream's `GetExpiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No `expiration`.
    Never,
    /// Past, or unreadable (treated as expired, as the apiserver does).
    Expired,
    In(Duration),
}

pub fn expiry(secret: &Secret, now: SystemTime) -> Expiry {
    match secret.bootstrap_token_expiration() {
        None => Expiry::Never,
        Some(Err(_)) => Expiry::Expired,
        Some(Ok(at)) => match SystemTime::from(at).duration_since(now) {
            Ok(left) if !left.is_zero() => Expiry::In(left),
            _ => Expiry::Expired,
        },
    }
}

/// The token id a Secret holds (`token-id`, else its name's suffix).
fn token_id(secret: &Secret) -> Option<String> {
    Some(secret.data_str(TOKEN_ID_KEY))
        .filter(|id| !id.is_empty())
        .or_else(|| secret.metadata.name.strip_prefix("bootstrap-token-"))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// Where a single-use token's join stands, from the CSRs made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Nothing under way: no request, or only denied and failed ones.
    Idle,
    /// A request waits for approval or its certificate.
    Requested { csr: String },
    /// Certificates were issued; their nodes, each from when it was approved, are looked for.
    Issued(Vec<IssuedTo>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTo {
    pub csr: String,
    pub node: String,
    /// A Lease renewed at or after this shows the node up with its new certificate.
    pub since: SystemTime,
}

pub fn join_of(requests: &[Arc<CertificateSigningRequest>]) -> Join {
    let issued: Vec<IssuedTo> = requests
        .iter()
        .filter(|csr| is_issued(csr) && !is_failed(csr))
        .filter_map(|csr| {
            let parsed = pki::ParsedCsr::from_pem(&csr.spec.request).ok()?;
            let node = parsed
                .common_name()?
                .strip_prefix(pki::signer::NODE_CN_PREFIX)?
                .to_string();
            let approved = csr
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == CONDITION_APPROVED)
                .and_then(|c| c.last_update_time);
            let since = approved
                .or(csr.metadata.creation_timestamp)
                .map_or(SystemTime::UNIX_EPOCH, |t| t.to_system_time());
            Some(IssuedTo {
                csr: csr.metadata.name.clone(),
                node,
                since,
            })
        })
        .collect();
    if !issued.is_empty() {
        return Join::Issued(issued);
    }
    requests
        .iter()
        .filter(|csr| !is_denied(csr) && !is_failed(csr) && !is_issued(csr))
        .map(|csr| csr.metadata.name.clone())
        .min()
        .map_or(Join::Idle, |csr| Join::Requested { csr })
}

/// The bootstrap token Secrets we have seen.
#[derive(Debug, Default)]
pub struct TokenCache {
    secrets: RwLock<HashMap<String, Arc<Secret>>>,
}

impl TokenCache {
    pub fn get(&self, name: &str) -> Option<Arc<Secret>> {
        self.secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Keeps `secret` unless a newer copy is held (an update's answer can come before the
    /// watch event of an older write).
    fn upsert(&self, secret: Secret) {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        let newer = secrets.get(&secret.metadata.name).is_none_or(|current| {
            crate::csr::is_newer_or_same(
                &secret.metadata.resource_version,
                &current.metadata.resource_version,
            )
        });
        if newer {
            secrets.insert(secret.metadata.name.clone(), Arc::new(secret));
        }
    }

    fn remove(&self, name: &str) {
        self.secrets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

/// Follows the token Secrets into `cache` and `queue` until the task is dropped.
pub async fn watch_tokens(client: Client, cache: Arc<TokenCache>, queue: Arc<WorkQueue>) {
    let params = ListParams::default().fields(format!("type={BOOTSTRAP_TOKEN_SECRET_TYPE}"));
    let mut events = Follow::<Secret>::new(client, Some(TOKEN_NAMESPACE), params);
    loop {
        let event = events.next().await;
        let name = event.object().metadata.name.clone();
        match event {
            WatchEvent::Added(secret) | WatchEvent::Modified(secret) => cache.upsert(secret),
            WatchEvent::Deleted(_) => cache.remove(&name),
        }
        queue.add(&name).await;
    }
}

pub struct TokenCleaner {
    client: Client,
    tokens: Arc<TokenCache>,
    csrs: Arc<CsrCache>,
}

impl TokenCleaner {
    pub fn new(client: Client, tokens: Arc<TokenCache>, csrs: Arc<CsrCache>) -> TokenCleaner {
        TokenCleaner {
            client,
            tokens,
            csrs,
        }
    }

    /// The first of `issued` whose node renewed its Lease since its approval.
    async fn joined<'a>(&self, issued: &'a [IssuedTo]) -> Result<Option<&'a IssuedTo>, SyncError> {
        for to in issued {
            // A list by name: the controller-manager may list every resource (upstream's
            // role) but get only its own Lease.
            let params = ListParams::default().fields(format!("metadata.name={}", to.node));
            let leases = self
                .client
                .list::<Lease>(Some(NODE_LEASE_NAMESPACE), &params)
                .await
                .map_err(|e| {
                    SyncError::Retry(format!(
                        "unable to read the Lease of node {:?}: {e}",
                        to.node
                    ))
                })?;
            let renewed = leases
                .items
                .iter()
                .filter_map(|lease| lease.spec.renew_time)
                .any(|at| at.to_system_time() >= to.since);
            if renewed {
                return Ok(Some(to));
            }
        }
        Ok(None)
    }

    /// Deletes the token, only if it is still the Secret we looked at (upstream's UID
    /// precondition); gone or replaced already is fine.
    async fn delete(&self, secret: &Secret) -> Result<(), SyncError> {
        let options = DeleteOptions {
            preconditions: (!secret.metadata.uid.is_empty()).then(|| Preconditions {
                uid: Some(secret.metadata.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self
            .client
            .delete_with::<Secret>(Some(TOKEN_NAMESPACE), &secret.metadata.name, &options)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(SyncError::Retry(format!(
                "unable to delete bootstrap token secret {}: {e}",
                secret.metadata.name
            ))),
        }
    }

    /// Moves the token's expiration to [`KEEP_VALID_WHILE_JOINING`] from `now`.
    async fn extend(&self, secret: &Secret, now: SystemTime, csr: &str) -> Result<(), SyncError> {
        let until = Time::from_system_time(now + KEEP_VALID_WHILE_JOINING);
        let mut updated = secret.clone();
        updated
            .data
            .insert(EXPIRATION_KEY.to_string(), until.to_string().into_bytes());
        match self.client.update(Some(TOKEN_NAMESPACE), &updated).await {
            Ok(answer) => {
                self.tokens.upsert(answer);
                let message = format!(
                    "Kept single-use bootstrap token {} valid until {until} while csr {csr} \
                     made with it is under way",
                    secret.metadata.name
                );
                self.record(secret, "BootstrapTokenExtended", &message)
                    .await;
                Ok(())
            }
            // The watch brings the newer copy.
            Err(e) if e.is_conflict() || e.is_not_found() => Err(SyncError::Quiet(format!(
                "bootstrap token secret {} changed: {e}",
                secret.metadata.name
            ))),
            Err(e) => Err(SyncError::Retry(format!(
                "unable to extend bootstrap token secret {}: {e}",
                secret.metadata.name
            ))),
        }
    }

    /// An Event on the token's Secret (`kubectl get events -n kube-system`).
    async fn record(&self, secret: &Secret, reason: &str, message: &str) {
        tracing::info!(secret = %secret.metadata.name, reason, "{message}");
        let now = Time::now();
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let event = Event {
            metadata: ObjectMeta {
                name: format!("{}.{nanos:x}", secret.metadata.name),
                namespace: TOKEN_NAMESPACE.to_string(),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: "Secret".to_string(),
                api_version: "v1".to_string(),
                namespace: TOKEN_NAMESPACE.to_string(),
                name: secret.metadata.name.clone(),
                uid: secret.metadata.uid.clone(),
                ..Default::default()
            },
            reason: reason.to_string(),
            message: message.to_string(),
            source: EventSource {
                component: crate::controllers::TOKEN_CLEANER.to_string(),
                host: String::new(),
            },
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: 1,
            type_: "Normal".to_string(),
            reporting_component: REPORTING_COMPONENT.to_string(),
            ..Default::default()
        };
        if let Err(error) = self.client.create(Some(TOKEN_NAMESPACE), &event).await {
            tracing::debug!(%error, "unable to record event");
        }
    }

    /// A single-use token's part of the sync.
    async fn single_use(
        &self,
        secret: &Secret,
        id: &str,
        now: SystemTime,
    ) -> Result<JoinStep, SyncError> {
        let requests = self
            .csrs
            .requested_by(&format!("{BOOTSTRAP_TOKEN_USER_PREFIX}{id}"));
        let (csr, poll) = match join_of(&requests) {
            Join::Idle => return Ok(JoinStep::Idle),
            Join::Issued(issued) => {
                if let Some(to) = self.joined(&issued).await? {
                    self.delete(secret).await?;
                    let message = format!(
                        "Deleted single-use bootstrap token {}: node {} is up with the \
                         certificate of csr {}",
                        secret.metadata.name, to.node, to.csr
                    );
                    self.record(secret, "BootstrapTokenUsed", &message).await;
                    return Ok(JoinStep::Deleted);
                }
                (issued[0].csr.clone(), Some(JOIN_POLL))
            }
            // A CSR event queues the token again; time alone matters only for the expiration.
            Join::Requested { csr } => (csr, None),
        };
        match expiry(secret, now) {
            Expiry::In(left) if left < KEEP_VALID_WHILE_JOINING / 2 => {
                self.extend(secret, now, &csr).await?;
                Ok(JoinStep::Extended)
            }
            Expiry::In(left) => {
                let extend_in = left - KEEP_VALID_WHILE_JOINING / 2;
                Ok(JoinStep::Wait(Some(
                    poll.map_or(extend_in, |p| p.min(extend_in)),
                )))
            }
            _ => Ok(JoinStep::Wait(poll)),
        }
    }
}

/// What a single-use token's join asks of the sync.
enum JoinStep {
    /// Nothing under way: only the expiration matters.
    Idle,
    /// The token was used up and deleted.
    Deleted,
    /// Its expiration was moved: look again at once, at the new copy.
    Extended,
    /// Look again after this long (if any), unless a CSR event comes first.
    Wait(Option<Duration>),
}

impl Handler for TokenCleaner {
    fn name(&self) -> &'static str {
        crate::controllers::TOKEN_CLEANER
    }

    async fn sync(&self, key: &str) -> Result<(), SyncError> {
        let Some(secret) = self.tokens.get(key) else {
            return Ok(());
        };
        if secret.type_ != BOOTSTRAP_TOKEN_SECRET_TYPE {
            return Ok(());
        }
        let now = SystemTime::now();
        let mut wait = None;
        if is_single_use(&secret)
            && let Some(id) = token_id(&secret)
        {
            match self.single_use(&secret, &id, now).await? {
                JoinStep::Idle => {}
                JoinStep::Deleted => return Ok(()),
                JoinStep::Extended => return Err(SyncError::NotYet(Duration::ZERO)),
                JoinStep::Wait(after) => wait = after,
            }
        }
        let wait = match expiry(&secret, now) {
            Expiry::Expired => {
                tracing::info!(secret = %key, "Deleting expired secret");
                return self.delete(&secret).await;
            }
            Expiry::Never => wait,
            Expiry::In(left) => Some(wait.map_or(left, |w| w.min(left))),
        };
        match wait {
            Some(wait) => Err(SyncError::NotYet(wait)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::certificates::v1::CertificateSigningRequestCondition;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    fn token(expiration: Option<&str>) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = "bootstrap-token-abcdef".to_string();
        secret.type_ = BOOTSTRAP_TOKEN_SECRET_TYPE.to_string();
        if let Some(at) = expiration {
            secret
                .data
                .insert(EXPIRATION_KEY.to_string(), at.as_bytes().to_vec());
        }
        secret
    }

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::from(OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap())
    }

    #[test]
    fn expiry_reads_as_upstream() {
        let now = at("2026-12-07T12:00:00Z");
        assert_eq!(expiry(&token(None), now), Expiry::Never);
        assert_eq!(expiry(&token(Some("")), now), Expiry::Never);
        assert_eq!(
            expiry(&token(Some("2026-12-07T12:10:00Z")), now),
            Expiry::In(Duration::from_secs(600))
        );
        assert_eq!(
            expiry(&token(Some("2026-12-07T13:00:00+01:00")), now),
            Expiry::Expired
        );
        assert_eq!(
            expiry(&token(Some("2026-12-07T11:59:59Z")), now),
            Expiry::Expired
        );
        assert_eq!(expiry(&token(Some("tomorrow")), now), Expiry::Expired);
    }

    #[test]
    fn the_token_id_comes_from_the_data_else_the_name() {
        let mut secret = token(None);
        assert_eq!(token_id(&secret).as_deref(), Some("abcdef"));
        secret
            .data
            .insert(TOKEN_ID_KEY.to_string(), b"ghijkl".to_vec());
        assert_eq!(token_id(&secret).as_deref(), Some("ghijkl"));
        secret.metadata.name = "other".to_string();
        secret.data.clear();
        assert_eq!(token_id(&secret), None);
    }

    #[test]
    fn csrs_made_with_a_token_queue_it() {
        let mut csr = CertificateSigningRequest::default();
        csr.spec.username = "system:bootstrap:abcdef".to_string();
        assert_eq!(token_key(&csr).as_deref(), Some("bootstrap-token-abcdef"));
        csr.spec.username = "system:node:a".to_string();
        assert_eq!(token_key(&csr), None);
    }

    fn request(name: &str, node: &str) -> CertificateSigningRequest {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let subject = pki::CsrSubject {
            common_name: format!("system:node:{node}"),
            organizations: vec!["system:nodes".to_string()],
        };
        let pem = pki::build_csr(&key, &subject, &pki::SubjectAltNames::default()).unwrap();
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.to_string();
        csr.metadata.creation_timestamp = Some(Time::from_system_time(at("2026-12-07T12:00:00Z")));
        csr.spec.request = pem.into_bytes();
        csr
    }

    fn condition(type_: &str, at_time: &str) -> CertificateSigningRequestCondition {
        crate::csr::true_condition(type_, "R", "", Some(Time::from_system_time(at(at_time))))
    }

    #[test]
    fn a_join_is_idle_requested_or_issued() {
        assert_eq!(join_of(&[]), Join::Idle);
        let mut denied = request("csr-d", "n1");
        denied
            .status
            .conditions
            .push(condition("Denied", "2026-12-07T12:00:01Z"));
        let pending = request("csr-p", "n1");
        assert_eq!(join_of(&[Arc::new(denied.clone())]), Join::Idle);
        assert_eq!(
            join_of(&[Arc::new(denied.clone()), Arc::new(pending.clone())]),
            Join::Requested {
                csr: "csr-p".to_string()
            }
        );
        let mut issued = request("csr-i", "n1");
        issued
            .status
            .conditions
            .push(condition(CONDITION_APPROVED, "2026-12-07T12:00:05Z"));
        issued.status.certificate = b"cert".to_vec();
        assert_eq!(
            join_of(&[
                Arc::new(pending),
                Arc::new(issued.clone()),
                Arc::new(denied)
            ]),
            Join::Issued(vec![IssuedTo {
                csr: "csr-i".to_string(),
                node: "n1".to_string(),
                since: at("2026-12-07T12:00:05Z"),
            }])
        );
        let mut failed = issued;
        failed
            .status
            .conditions
            .push(condition("Failed", "2026-12-07T12:00:06Z"));
        assert_eq!(join_of(&[Arc::new(failed)]), Join::Idle);
    }
}
