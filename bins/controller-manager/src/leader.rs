//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`:
//!
//! * a candidate takes the Lease when it is free (no holder) or its holder has not renewed it
//!   for the lease duration, measured on our own clock from when we last saw the record change
//!   (so clocks of different machines never need to agree);
//! * the leader renews every retry period; when renewals keep failing for the renew deadline
//!   it stops leading, and the program exits so a supervisor restarts it (upstream's
//!   `leaderelection lost`);
//! * every write carries the resourceVersion it read, so two candidates never both win.
//!
//! On a clean shutdown the leader releases the Lease (client-go's `ReleaseOnCancel`), so a
//! standby takes over at once instead of after the lease duration.

use std::time::{Duration, SystemTime};

use client::{Client, ClientError, RetryPolicy};
use protocol::coordination::v1::{Lease, LeaseSpec};
use protocol::meta::{MicroTime, ObjectMeta};
use rand::Rng as _;
use tokio::time::Instant;

/// client-go's `JitterFactor` for acquire retries.
const JITTER_FACTOR: f64 = 1.2;

/// The `--leader-elect-*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    pub name: String,
    /// Who we are in `holderIdentity` (`<hostname>_<uuid>`, unique per process).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// client-go's `NewLeaderElector` checks, with its words.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("leaseDuration must be greater than renewDeadline".to_string());
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err("renewDeadline must be greater than retryPeriod*JitterFactor".to_string());
        }
        if self.identity.is_empty() {
            return Err("Lock identity is empty".to_string());
        }
        Ok(())
    }
}

/// `<hostname>_<random uuid>`, as kube-controller-manager builds its identity.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// Renewals failed for the whole renew deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leaderelection lost: failed to renew lease {namespace}/{name} within {deadline:?}")]
pub struct LeadershipLost {
    pub namespace: String,
    pub name: String,
    pub deadline: Duration,
}

/// One candidate.
pub struct LeaderElector {
    client: Client,
    config: LeaderElectionConfig,
    /// The last record seen and when (our clock) it was first seen.
    observed: Option<(LeaseSpec, Instant)>,
    /// The Lease as we last wrote or read it (for its resourceVersion).
    last_lease: Option<Lease>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    pub fn new(client: &Client, config: LeaderElectionConfig) -> LeaderElector {
        // One attempt per try, bounded: the loops around retry, and a renewal must not
        // outlive the renew deadline inside the client's own retries.
        let client = client
            .with_retry(RetryPolicy::none())
            .with_timeout(config.renew_deadline);
        LeaderElector {
            client,
            config,
            observed: None,
            last_lease: None,
        }
    }

    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    fn is_mine(&self, spec: &LeaseSpec) -> bool {
        spec.holder_identity.as_deref() == Some(self.config.identity.as_str())
    }

    fn observe(&mut self, spec: &LeaseSpec) {
        let changed = self.observed.as_ref().is_none_or(|(seen, _)| seen != spec);
        if changed {
            self.observed = Some((spec.clone(), Instant::now()));
        }
    }

    fn our_record(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime::from(SystemTime::now());
        let (acquire_time, transitions) = match previous {
            Some(prev) if self.is_mine(prev) => (
                prev.acquire_time.unwrap_or(now),
                prev.lease_transitions.unwrap_or(0),
            ),
            Some(prev) => {
                let had_holder = prev
                    .holder_identity
                    .as_deref()
                    .is_some_and(|h| !h.is_empty());
                let t = prev.lease_transitions.unwrap_or(0);
                (now, if had_holder { t.saturating_add(1) } else { t })
            }
            None => (now, 0),
        };
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquire_time),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One `tryAcquireOrRenew`: `Ok(true)` when we hold the Lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, ClientError> {
        let namespace = self.config.namespace.clone();
        let ns = Some(namespace.as_str());
        let current = match self.client.get::<Lease>(ns, &self.config.name).await {
            Ok(lease) => lease,
            Err(e) if e.is_not_found() => {
                let lease = Lease {
                    metadata: ObjectMeta::namespaced(&self.config.namespace, &self.config.name),
                    spec: self.our_record(None),
                };
                let created = match self.client.create(ns, &lease).await {
                    Ok(created) => created,
                    // Someone else created it first: not ours this round.
                    Err(e) if e.is_already_exists() || e.is_conflict() => return Ok(false),
                    Err(e) => return Err(e),
                };
                self.observe(&created.spec);
                self.last_lease = Some(created);
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        self.observe(&current.spec);
        let holder = current.spec.holder_identity.as_deref().unwrap_or("");
        if !holder.is_empty() && !self.is_mine(&current.spec) {
            let duration = current
                .spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs);
            let seen_at = self
                .observed
                .as_ref()
                .map_or_else(Instant::now, |(_, at)| *at);
            if seen_at + duration > Instant::now() {
                return Ok(false);
            }
        }
        let mut lease = current.clone();
        lease.spec = self.our_record(Some(&current.spec));
        match self.client.update(ns, &lease).await {
            Ok(updated) => {
                self.observe(&updated.spec);
                self.last_lease = Some(updated);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Tries until we hold the Lease (every retry period, jittered as client-go does).
    pub async fn acquire(&mut self) {
        tracing::info!(
            lease = %format!("{}/{}", self.config.namespace, self.config.name),
            identity = %self.config.identity,
            "attempting to acquire leader lease"
        );
        let mut announced_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(
                        lease = %format!("{}/{}", self.config.namespace, self.config.name),
                        "successfully acquired lease"
                    );
                    return;
                }
                Ok(false) => {
                    let holder = self
                        .observed
                        .as_ref()
                        .and_then(|(s, _)| s.holder_identity.clone())
                        .unwrap_or_default();
                    if holder != announced_holder {
                        tracing::info!(%holder, "new leader elected; waiting");
                        announced_holder = holder;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "error retrieving or updating the leader lease")
                }
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// Renews every retry period while it works; returns when renewing failed for the whole
    /// renew deadline (or someone else holds the Lease).
    pub async fn hold(&mut self) -> LeadershipLost {
        let lost = LeadershipLost {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            deadline: self.config.renew_deadline,
        };
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            let renewed = tokio::time::timeout_at(deadline, async {
                loop {
                    match self.try_acquire_or_renew().await {
                        Ok(true) => return,
                        Ok(false) => {
                            tracing::warn!("lease is held by another candidate; retrying renewal")
                        }
                        Err(error) => tracing::warn!(%error, "failed to renew the leader lease"),
                    }
                    tokio::time::sleep(self.config.retry_period).await;
                }
            })
            .await;
            if renewed.is_err() {
                return lost;
            }
        }
    }

    /// Gives the Lease up (clean shutdown): empty holder, 1 s duration, as client-go's release.
    pub async fn release(&mut self) {
        let Some(mut lease) = self.last_lease.clone() else {
            return;
        };
        if !self.is_mine(&lease.spec) {
            return;
        }
        let now = MicroTime::from(SystemTime::now());
        lease.spec = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(now),
            renew_time: Some(now),
            lease_transitions: lease.spec.lease_transitions,
            ..LeaseSpec::default()
        };
        let ns = Some(self.config.namespace.clone());
        match self.client.update(ns.as_deref(), &lease).await {
            Ok(_) => tracing::info!("released the leader lease"),
            Err(error) => tracing::warn!(%error, "failed to release the leader lease"),
        }
    }
}

/// `wait.Jitter(d, 1.2)`: uniform in `[d, d * 2.2)`.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 + rand::rng().random::<f64>() * JITTER_FACTOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaderElectionConfig {
        LeaderElectionConfig {
            namespace: "kube-system".into(),
            name: "kube-controller-manager".into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    #[test]
    fn upstream_defaults_validate_and_bad_orders_are_refused_with_client_go_words() {
        assert_eq!(config().validate(), Ok(()));
        let mut c = config();
        c.renew_deadline = Duration::from_secs(15);
        assert_eq!(
            c.validate().unwrap_err(),
            "leaseDuration must be greater than renewDeadline"
        );
        let mut c = config();
        c.retry_period = Duration::from_secs(9);
        assert_eq!(
            c.validate().unwrap_err(),
            "renewDeadline must be greater than retryPeriod*JitterFactor"
        );
    }

    #[test]
    fn identities_are_host_and_a_fresh_uuid() {
        let (a, b) = (default_identity(), default_identity());
        assert_ne!(a, b);
        let uuid = a.rsplit('_').next().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn jitter_stays_within_client_go_bounds() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(2));
            assert!(d >= Duration::from_secs(2) && d < Duration::from_millis(6400));
        }
    }
}
