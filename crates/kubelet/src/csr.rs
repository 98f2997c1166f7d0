//! Requesting a certificate through the CertificateSigningRequest API and waiting for it
//! (client-go `util/certificate/csr`): build, create (or reuse after a 409), then list+watch
//! the one CSR by name until it is issued, denied, failed or deleted.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use client::{Client, ClientError, ListParams, WatchEvent};
use pki::{CsrSubject, PrivateKey, SubjectAltNames, Usage};
use protocol::certificates::v1::{
    CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED, CertificateSigningRequest,
    CertificateSigningRequestSpec,
};
use protocol::meta::ObjectMeta;
use sha2::Digest as _;

/// How often a pending request is reported in the log.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// What to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub signer_name: String,
    pub subject: CsrSubject,
    pub sans: SubjectAltNames,
    pub usages: Vec<Usage>,
}

impl Template {
    /// `kubernetes.io/kube-apiserver-client-kubelet`, `system:node:<name>` / `system:nodes`,
    /// usages `digital signature, client auth` (the ECDSA set of current kubelets).
    pub fn kubelet_client(node_name: &str) -> Template {
        Template {
            signer_name: pki::signer::KUBE_APISERVER_CLIENT_KUBELET.to_owned(),
            subject: node_subject(node_name),
            sans: SubjectAltNames::default(),
            usages: vec![Usage::DigitalSignature, Usage::ClientAuth],
        }
    }

    /// `kubernetes.io/kubelet-serving` with the node's host name and IPs as SANs.
    pub fn kubelet_serving(node_name: &str, sans: SubjectAltNames) -> Template {
        Template {
            signer_name: pki::signer::KUBELET_SERVING.to_owned(),
            subject: node_subject(node_name),
            sans,
            usages: vec![Usage::DigitalSignature, Usage::ServerAuth],
        }
    }

    fn usage_strings(&self) -> Vec<String> {
        self.usages.iter().map(|u| u.as_str().to_owned()).collect()
    }
}

fn node_subject(node_name: &str) -> CsrSubject {
    CsrSubject {
        common_name: format!("system:node:{node_name}"),
        organizations: vec!["system:nodes".to_owned()],
    }
}

/// Why no certificate came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    #[error("failed to build the certificate request: {0}")]
    Build(#[from] pki::PkiError),
    #[error("failed to create certificate signing request: {0}")]
    Create(#[source] ClientError),
    #[error(
        "certificate signing request {name} already exists and does not match this request ({why})"
    )]
    Incompatible { name: String, why: &'static str },
    #[error("certificate signing request {name} is denied, reason: {reason}, message: {message}")]
    Denied {
        name: String,
        reason: String,
        message: String,
    },
    #[error("certificate signing request {name} failed, reason: {reason}, message: {message}")]
    Failed {
        name: String,
        reason: String,
        message: String,
    },
    #[error("certificate signing request {name} was deleted")]
    Deleted { name: String },
    #[error("certificate signing request {name} changed UIDs")]
    UidChanged { name: String },
    #[error("timed out after {after:?} waiting for certificate signing request {name}")]
    Timeout { name: String, after: Duration },
    #[error("watching certificate signing request {name} failed: {source}")]
    Watch {
        name: String,
        #[source]
        source: ClientError,
    },
}

impl CsrError {
    /// How long the apiserver asked us to wait before the next request, when it refused
    /// this one as one too many (decision 0030).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CsrError::Create(e) if e.is_too_many_requests() => e.retry_after(),
            _ => None,
        }
    }
}

impl CsrError {
    /// A verdict from the cluster rather than a failure to reach it.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            CsrError::Denied { .. } | CsrError::Failed { .. } | CsrError::Incompatible { .. }
        )
    }
}

/// A CSR that exists on the server and is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub name: String,
    pub uid: String,
}

/// upstream `digestedName`: `node-csr-` + base64url(SHA-512/256) over the base64url of the
/// public key, the CN, each O and each usage, each followed by `|`. The same key and subject
/// always give the same name, so a restarted agent finds its own pending request.
pub fn digested_name(public_key_der: &[u8], subject: &CsrSubject, usages: &[Usage]) -> String {
    let mut hash = sha2::Sha512_256::new();
    let mut write = |data: &[u8]| {
        hash.update(URL_SAFE_NO_PAD.encode(data).as_bytes());
        hash.update(b"|");
    };
    write(public_key_der);
    write(subject.common_name.as_bytes());
    for org in &subject.organizations {
        write(org.as_bytes());
    }
    for usage in usages {
        write(usage.as_str().as_bytes());
    }
    format!("node-csr-{}", URL_SAFE_NO_PAD.encode(hash.finalize()))
}

/// How to name the request: bootstrap uses the digested name, rotation `generateName: csr-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Digested,
    Generated,
}

/// Creates the CSR for `key`; with [`Naming::Digested`] an existing CSR of that name is
/// reused when it is the same request (upstream `ensureCompatible`).
pub async fn submit(
    client: &Client,
    key: &PrivateKey,
    template: &Template,
    naming: Naming,
) -> Result<Submitted, CsrError> {
    let request = pki::build_csr(key, &template.subject, &template.sans)?;
    let mut metadata = ObjectMeta::default();
    match naming {
        Naming::Digested => {
            metadata.name =
                digested_name(&key.public_key_der(), &template.subject, &template.usages)
        }
        Naming::Generated => metadata.generate_name = "csr-".to_owned(),
    }
    let csr = CertificateSigningRequest {
        metadata,
        spec: CertificateSigningRequestSpec {
            request: request.into_bytes(),
            signer_name: template.signer_name.clone(),
            usages: template.usage_strings(),
            ..Default::default()
        },
        ..Default::default()
    };
    match client.create::<CertificateSigningRequest>(None, &csr).await {
        Ok(created) => Ok(Submitted {
            name: created.metadata.name,
            uid: created.metadata.uid,
        }),
        Err(e) if e.is_already_exists() && naming == Naming::Digested => {
            let name = csr.metadata.name.clone();
            let existing = client
                .get::<CertificateSigningRequest>(None, &name)
                .await
                .map_err(CsrError::Create)?;
            ensure_compatible(&existing, key, template).map_err(|why| CsrError::Incompatible {
                name: name.clone(),
                why,
            })?;
            tracing::info!(csr = %name, "reusing the certificate signing request sent before a restart");
            Ok(Submitted {
                name,
                uid: existing.metadata.uid,
            })
        }
        Err(e) => Err(CsrError::Create(e)),
    }
}

fn ensure_compatible(
    existing: &CertificateSigningRequest,
    key: &PrivateKey,
    template: &Template,
) -> Result<(), &'static str> {
    let csr = pki::Csr::from_pem(&existing.spec.request).map_err(|_| "unparseable request")?;
    if csr.common_name() != Some(template.subject.common_name.as_str())
        || csr.organizations() != template.subject.organizations.as_slice()
    {
        return Err("different subject");
    }
    if existing.spec.signer_name != template.signer_name {
        return Err("different signer");
    }
    if csr.public_key_der() != key.public_key_der().as_slice() {
        return Err("different key");
    }
    if !existing.status.certificate.is_empty() {
        let certs = pki::parse_certificates(&existing.status.certificate)
            .map_err(|_| "unparseable certificate")?;
        if certs
            .first()
            .is_some_and(|c| !c.is_valid_at(std::time::SystemTime::now()))
        {
            return Err("issued certificate expired");
        }
    }
    Ok(())
}

/// kubectl's CONDITION column: `Pending`, `Approved`, `Denied`, with `,Failed` and `,Issued`.
pub fn condition_summary(csr: &CertificateSigningRequest) -> String {
    let mut text = if csr.has_condition(CONDITION_DENIED) {
        "Denied".to_owned()
    } else if csr.has_condition(CONDITION_APPROVED) {
        "Approved".to_owned()
    } else {
        "Pending".to_owned()
    };
    if csr.has_condition(CONDITION_FAILED) {
        text.push_str(",Failed");
    }
    if !csr.status.certificate.is_empty() {
        text.push_str(",Issued");
    }
    text
}

/// What one observed state of the CSR means.
fn verdict(
    csr: &CertificateSigningRequest,
    submitted: &Submitted,
) -> Result<Option<Vec<u8>>, CsrError> {
    let name = || submitted.name.clone();
    if !submitted.uid.is_empty() && csr.metadata.uid != submitted.uid {
        return Err(CsrError::UidChanged { name: name() });
    }
    let condition_text = |type_: &str| {
        csr.condition(type_)
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_default()
    };
    if csr.has_condition(CONDITION_DENIED) {
        let (reason, message) = condition_text(CONDITION_DENIED);
        return Err(CsrError::Denied {
            name: name(),
            reason,
            message,
        });
    }
    if csr.has_condition(CONDITION_FAILED) {
        let (reason, message) = condition_text(CONDITION_FAILED);
        return Err(CsrError::Failed {
            name: name(),
            reason,
            message,
        });
    }
    if csr.has_condition(CONDITION_APPROVED) && !csr.status.certificate.is_empty() {
        return Ok(Some(csr.status.certificate.clone()));
    }
    Ok(None)
}

/// Watches the CSR (list, then watch from the list's resourceVersion, with the client's
/// resume) until it has a certificate. `progress` is called at most every
/// [`PROGRESS_INTERVAL`] with the current condition summary.
pub async fn wait_for_certificate(
    client: &Client,
    submitted: &Submitted,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Vec<u8>, CsrError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let params = ListParams {
        field_selector: Some(format!("metadata.name={}", submitted.name)),
        ..Default::default()
    };
    let mut watcher = client.watch::<CertificateSigningRequest>(None, params.clone());
    let mut last_condition = "Pending".to_owned();
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                return Err(CsrError::Timeout { name: submitted.name.clone(), after: started.elapsed() });
            }
            _ = ticker.tick() => progress(&last_condition),
            event = watcher.next() => match event {
                Some(Ok(WatchEvent::Added(csr) | WatchEvent::Modified(csr))) => {
                    last_condition = condition_summary(&csr);
                    if let Some(certificate) = verdict(&csr, submitted)? {
                        return Ok(certificate);
                    }
                }
                Some(Ok(WatchEvent::Deleted(_))) => {
                    return Err(CsrError::Deleted { name: submitted.name.clone() });
                }
                #[allow(unreachable_patterns)]
                Some(Ok(_)) => {}
                Some(Err(e)) if e.is_retryable() => {
                    tracing::debug!(csr = %submitted.name, error = %e, "watch interrupted, resuming");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(Err(e)) => {
                    return Err(CsrError::Watch { name: submitted.name.clone(), source: e });
                }
                None => {
                    // The watcher gave up on its stream: start a new list+watch.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    watcher = client.watch::<CertificateSigningRequest>(None, params.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::certificates::v1::CertificateSigningRequestCondition;

    #[test]
    fn only_a_create_refused_as_one_too_many_names_a_wait() {
        use protocol::meta::Status;
        let limited = CsrError::Create(ClientError::api(Status::too_many_requests("slow", 287)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(287)));
        let unavailable = ClientError::api(Status {
            details: Some(protocol::meta::StatusDetails {
                retry_after_seconds: 5,
                ..Default::default()
            }),
            ..Status::failure(503, "ServiceUnavailable", "later")
        });
        assert_eq!(CsrError::Create(unavailable).retry_after(), None);
        let watch = CsrError::Watch {
            name: "c".into(),
            source: ClientError::api(Status::too_many_requests("slow", 9)),
        };
        assert_eq!(watch.retry_after(), None);
    }

    #[test]
    fn digested_name_depends_on_key_subject_and_usages_only() {
        let key = PrivateKey::generate_p256().unwrap();
        let t = Template::kubelet_client("n1");
        let a = digested_name(&key.public_key_der(), &t.subject, &t.usages);
        let b = digested_name(&key.public_key_der(), &t.subject, &t.usages);
        assert_eq!(a, b);
        assert!(a.starts_with("node-csr-"));
        // SHA-512/256 is 32 bytes: 43 base64url characters without padding.
        assert_eq!(a.len(), "node-csr-".len() + 43);
        let other = Template::kubelet_client("n2");
        assert_ne!(
            a,
            digested_name(&key.public_key_der(), &other.subject, &other.usages)
        );
        let key2 = PrivateKey::generate_p256().unwrap();
        assert_ne!(
            a,
            digested_name(&key2.public_key_der(), &t.subject, &t.usages)
        );
    }

    #[test]
    fn digested_name_matches_the_upstream_construction() {
        // The hash input spelled out by hand for a fixed "public key".
        let subject = CsrSubject {
            common_name: "system:node:n1".into(),
            organizations: vec!["system:nodes".into()],
        };
        let usages = [Usage::DigitalSignature, Usage::ClientAuth];
        let input = format!(
            "{}|{}|{}|{}|{}|",
            URL_SAFE_NO_PAD.encode([1u8, 2, 3]),
            URL_SAFE_NO_PAD.encode("system:node:n1"),
            URL_SAFE_NO_PAD.encode("system:nodes"),
            URL_SAFE_NO_PAD.encode("digital signature"),
            URL_SAFE_NO_PAD.encode("client auth"),
        );
        let expected = format!(
            "node-csr-{}",
            URL_SAFE_NO_PAD.encode(sha2::Sha512_256::digest(input.as_bytes()))
        );
        assert_eq!(digested_name(&[1, 2, 3], &subject, &usages), expected);
    }

    fn csr_with(
        conditions: &[(&str, &str, &str)],
        certificate: &[u8],
    ) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = "node-csr-x".into();
        csr.metadata.uid = "u1".into();
        csr.status.certificate = certificate.to_vec();
        csr.status.conditions = conditions
            .iter()
            .map(|(t, r, m)| CertificateSigningRequestCondition {
                type_: (*t).into(),
                status: "True".into(),
                reason: (*r).into(),
                message: (*m).into(),
                ..Default::default()
            })
            .collect();
        csr
    }

    #[test]
    fn verdicts_follow_the_conditions() {
        let ours = Submitted {
            name: "node-csr-x".into(),
            uid: "u1".into(),
        };
        let pending = csr_with(&[], b"");
        assert_eq!(condition_summary(&pending), "Pending");
        assert!(verdict(&pending, &ours).unwrap().is_none());

        let approved = csr_with(&[("Approved", "AutoApproved", "ok")], b"");
        assert_eq!(condition_summary(&approved), "Approved");
        assert!(verdict(&approved, &ours).unwrap().is_none());

        let issued = csr_with(&[("Approved", "AutoApproved", "ok")], b"CERT");
        assert_eq!(condition_summary(&issued), "Approved,Issued");
        assert_eq!(verdict(&issued, &ours).unwrap().unwrap(), b"CERT");

        let denied = csr_with(&[("Denied", "KubectlDeny", "no")], b"");
        let err = verdict(&denied, &ours).unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate signing request node-csr-x is denied, reason: KubectlDeny, message: no"
        );
        assert!(err.is_terminal());

        let failed = csr_with(
            &[
                ("Approved", "", ""),
                ("Failed", "SignerValidationFailure", "bad"),
            ],
            b"",
        );
        assert_eq!(condition_summary(&failed), "Approved,Failed");
        assert!(matches!(
            verdict(&failed, &ours),
            Err(CsrError::Failed { .. })
        ));

        let other_uid = Submitted {
            name: "node-csr-x".into(),
            uid: "u2".into(),
        };
        assert!(matches!(
            verdict(&pending, &other_uid),
            Err(CsrError::UidChanged { .. })
        ));
    }

    #[test]
    fn compatibility_requires_same_subject_signer_and_key() {
        let key = PrivateKey::generate_p256().unwrap();
        let template = Template::kubelet_client("n1");
        let request = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let mut existing = CertificateSigningRequest::default();
        existing.spec.request = request.into_bytes();
        existing.spec.signer_name = template.signer_name.clone();
        assert_eq!(ensure_compatible(&existing, &key, &template), Ok(()));
        let other_key = PrivateKey::generate_p256().unwrap();
        assert_eq!(
            ensure_compatible(&existing, &other_key, &template),
            Err("different key")
        );
        assert_eq!(
            ensure_compatible(&existing, &key, &Template::kubelet_client("n2")),
            Err("different subject")
        );
        existing.spec.signer_name = "example.com/x".into();
        assert_eq!(
            ensure_compatible(&existing, &key, &template),
            Err("different signer")
        );
    }
}
