//! csrcleaner (upstream `cleaner/cleaner.go`): deletes CSRs nobody needs any more, first at
//! start-up and then every interval (upstream: 1 h). Each pass lists all CSRs from the API.

use std::time::{Duration, SystemTime};

use client::{Client, ListParams};
use protocol::certificates::v1::{
    CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED, CertificateSigningRequest,
};
use protocol::meta::Time;

use crate::csr::is_issued;
use crate::metrics::Metrics;

const APPROVED_EXPIRATION: Duration = Duration::from_secs(3600);
const DENIED_EXPIRATION: Duration = Duration::from_secs(3600);
const PENDING_EXPIRATION: Duration = Duration::from_secs(24 * 3600);

/// Which retention rule a CSR broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    IssuedPastDeadline,
    DeniedPastDeadline,
    FailedPastDeadline,
    PendingPastDeadline,
    IssuedExpired,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::IssuedPastDeadline => "issued",
            Rule::DeniedPastDeadline => "denied",
            Rule::FailedPastDeadline => "failed",
            Rule::PendingPastDeadline => "pending",
            Rule::IssuedExpired => "expired",
        }
    }

    /// Upstream's log line.
    fn message(self) -> &'static str {
        match self {
            Rule::IssuedPastDeadline => "Cleaning CSR as it is more than 1h0m0s old and approved.",
            Rule::DeniedPastDeadline => "Cleaning CSR as it is more than 1h0m0s old and denied.",
            Rule::FailedPastDeadline => "Cleaning CSR as it is more than 1h0m0s old and failed.",
            Rule::PendingPastDeadline => {
                "Cleaning CSR as it is more than 24h0m0s old and unhandled."
            }
            Rule::IssuedExpired => "Cleaning CSR as the associated certificate is expired.",
        }
    }
}

/// `isOlderThan`: a zero (absent) time is never old.
fn older_than(t: Option<&Time>, age: Duration, now: SystemTime) -> bool {
    match t {
        Some(t) if !t.is_zero() => t.to_system_time() + age < now,
        _ => false,
    }
}

fn condition_older_than(
    csr: &CertificateSigningRequest,
    condition_type: &str,
    age: Duration,
    now: SystemTime,
) -> bool {
    csr.status
        .conditions
        .iter()
        .any(|c| c.type_ == condition_type && older_than(c.last_update_time.as_ref(), age, now))
}

/// The first certificate's NotAfter has passed (an unparsable certificate is not judged).
fn certificate_expired(csr: &CertificateSigningRequest, now: SystemTime) -> bool {
    pki::parse_certificates(&csr.status.certificate)
        .ok()
        .and_then(|certs| certs.first().map(|c| c.not_after() < now))
        .unwrap_or(false)
}

/// The rule `csr` breaks at `now`, in upstream's order.
pub fn retention_rule(csr: &CertificateSigningRequest, now: SystemTime) -> Option<Rule> {
    let approved = csr
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == CONDITION_APPROVED);
    if is_issued(csr) && condition_older_than(csr, CONDITION_APPROVED, APPROVED_EXPIRATION, now) {
        return Some(Rule::IssuedPastDeadline);
    }
    if condition_older_than(csr, CONDITION_DENIED, DENIED_EXPIRATION, now) {
        return Some(Rule::DeniedPastDeadline);
    }
    if condition_older_than(csr, CONDITION_FAILED, DENIED_EXPIRATION, now) {
        return Some(Rule::FailedPastDeadline);
    }
    if csr.status.conditions.is_empty()
        && older_than(
            csr.metadata.creation_timestamp.as_ref(),
            PENDING_EXPIRATION,
            now,
        )
    {
        return Some(Rule::PendingPastDeadline);
    }
    if approved && is_issued(csr) && certificate_expired(csr, now) {
        return Some(Rule::IssuedExpired);
    }
    None
}

/// One pass: lists every CSR and deletes those past retention. Returns how many went.
pub async fn clean_once(client: &Client, metrics: &Metrics) -> Result<usize, client::ClientError> {
    let list = client
        .list_all::<CertificateSigningRequest>(None, &ListParams::default())
        .await?;
    let now = SystemTime::now();
    let mut deleted = 0;
    for csr in &list.items {
        let Some(rule) = retention_rule(csr, now) else {
            continue;
        };
        let name = &csr.metadata.name;
        tracing::info!(csr = %name, "{}", rule.message());
        match client.delete::<CertificateSigningRequest>(None, name).await {
            Ok(()) => {
                metrics.cleaned(rule.as_str());
                deleted += 1;
            }
            Err(e) if e.is_not_found() => {}
            Err(error) => tracing::warn!(csr = %name, %error, "unable to delete CSR"),
        }
    }
    Ok(deleted)
}

/// A pass now, then one every `interval`, until the task is dropped.
pub async fn run(client: Client, metrics: Metrics, interval: Duration) {
    loop {
        if let Err(error) = clean_once(&client, &metrics).await {
            tracing::warn!(%error, "csrcleaner pass failed");
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::tests::with_conditions;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(t: SystemTime) -> Option<Time> {
        Some(Time::from_system_time(t))
    }

    fn csr_with(
        types: &[&str],
        updated: SystemTime,
        issued: Option<&str>,
    ) -> CertificateSigningRequest {
        let pairs: Vec<(&str, &str)> = types.iter().map(|t| (*t, "True")).collect();
        let mut csr = with_conditions(&pairs);
        for c in &mut csr.status.conditions {
            c.last_update_time = at(updated);
        }
        if let Some(pem) = issued {
            csr.status.certificate = pem.as_bytes().to_vec();
        }
        csr
    }

    fn leaf(validity: Duration) -> String {
        let ca = pki::CertificateAuthority::generate("t", pki::KeyAlgorithm::EcdsaP256, 2 * HOUR)
            .unwrap();
        ca.issue_leaf(&pki::LeafParams {
            common_name: "x".into(),
            organizations: vec![],
            dns: vec![],
            ips: vec![],
            usages: vec![pki::Usage::ClientAuth],
            validity,
        })
        .unwrap()
        .0
    }

    #[test]
    fn issued_denied_and_failed_go_after_an_hour() {
        let now = SystemTime::now();
        let cert = leaf(HOUR);
        let old = now - HOUR - Duration::from_secs(1);
        let fresh = now - Duration::from_secs(59 * 60);
        assert_eq!(
            retention_rule(&csr_with(&["Approved"], old, Some(&cert)), now),
            Some(Rule::IssuedPastDeadline)
        );
        assert_eq!(
            retention_rule(&csr_with(&["Approved"], fresh, Some(&cert)), now),
            None
        );
        // Approved but never issued stays, however old.
        assert_eq!(
            retention_rule(&csr_with(&["Approved"], old, None), now),
            None
        );
        assert_eq!(
            retention_rule(&csr_with(&["Denied"], old, None), now),
            Some(Rule::DeniedPastDeadline)
        );
        assert_eq!(
            retention_rule(&csr_with(&["Approved", "Failed"], old, None), now),
            Some(Rule::FailedPastDeadline)
        );
        assert_eq!(
            retention_rule(&csr_with(&["Denied"], fresh, None), now),
            None
        );
    }

    #[test]
    fn pending_goes_after_a_day_and_zero_times_never_age() {
        let now = SystemTime::now();
        let mut pending = CertificateSigningRequest::default();
        pending.metadata.creation_timestamp = at(now - 24 * HOUR - Duration::from_secs(1));
        assert_eq!(
            retention_rule(&pending, now),
            Some(Rule::PendingPastDeadline)
        );
        pending.metadata.creation_timestamp = at(now - 23 * HOUR);
        assert_eq!(retention_rule(&pending, now), None);
        pending.metadata.creation_timestamp = None;
        assert_eq!(retention_rule(&pending, now), None);
        let mut no_time = csr_with(&["Denied"], now, None);
        no_time.status.conditions[0].last_update_time = None;
        assert_eq!(retention_rule(&no_time, now + 48 * HOUR), None);
    }

    #[test]
    fn an_expired_certificate_goes_at_once() {
        let cert = leaf(Duration::from_secs(600));
        let now = SystemTime::now();
        let csr = csr_with(&["Approved"], now, Some(&cert));
        assert_eq!(retention_rule(&csr, now), None);
        assert_eq!(
            retention_rule(&csr, now + Duration::from_secs(601)),
            Some(Rule::IssuedExpired)
        );
    }
}
