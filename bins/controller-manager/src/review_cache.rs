//! Allowed SubjectAccessReview answers, reused for a few seconds.
//!
//! Every node that joins with a shared bootstrap token asks as the same requester, so in a
//! storm upstream's approver sends thousands of identical reviews (one per CSR, a third of
//! the apiserver requests of the signing path). Only "allowed" is kept, and briefly: a
//! permission granted is used at once (a denial is never cached), a permission revoked
//! stops approvals after at most the TTL -- far shorter than kube-apiserver's own webhook
//! authorizer cache (`--authorization-webhook-cache-authorized-ttl`, 5 minutes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::authorization::v1::SubjectAccessReviewSpec;

/// How long an allowed answer is reused.
pub const ALLOWED_TTL: Duration = Duration::from_secs(10);
/// Entries above which expired ones are dropped (renewing nodes each ask as themselves).
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug)]
pub struct ReviewCache {
    ttl: Duration,
    /// The review's spec as JSON (exact: user, uid, groups, extra, attributes) -> when it
    /// was allowed.
    allowed: Mutex<HashMap<String, Instant>>,
}

impl Default for ReviewCache {
    fn default() -> Self {
        ReviewCache::new(ALLOWED_TTL)
    }
}

impl ReviewCache {
    pub fn new(ttl: Duration) -> ReviewCache {
        ReviewCache {
            ttl,
            allowed: Mutex::new(HashMap::new()),
        }
    }

    /// The key of a review: every field of its spec takes part.
    pub fn key(spec: &SubjectAccessReviewSpec) -> String {
        // Serializing a plain struct of strings and maps cannot fail.
        serde_json::to_string(spec).unwrap_or_default()
    }

    /// Whether `key` was allowed less than the TTL ago.
    pub fn is_allowed(&self, key: &str) -> bool {
        self.is_allowed_at(key, Instant::now())
    }

    fn is_allowed_at(&self, key: &str, now: Instant) -> bool {
        let allowed = self.allowed.lock().unwrap_or_else(|e| e.into_inner());
        allowed
            .get(key)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.ttl)
    }

    /// Records that the apiserver allowed `key` (answered at `now`).
    pub fn remember_allowed(&self, key: String, now: Instant) {
        let mut allowed = self.allowed.lock().unwrap_or_else(|e| e.into_inner());
        if allowed.len() >= PRUNE_ABOVE {
            allowed.retain(|_, at| now.saturating_duration_since(*at) < self.ttl);
        }
        allowed.insert(key, now);
    }

    pub fn len(&self) -> usize {
        self.allowed.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: &str, subresource: &str) -> SubjectAccessReviewSpec {
        let mut spec = SubjectAccessReviewSpec {
            user: user.to_string(),
            groups: vec!["system:bootstrappers".to_string()],
            ..Default::default()
        };
        spec.resource_attributes = Some(protocol::authorization::v1::ResourceAttributes {
            subresource: subresource.to_string(),
            ..Default::default()
        });
        spec
    }

    #[test]
    fn an_allowed_answer_is_reused_until_the_ttl_passes() {
        let cache = ReviewCache::new(Duration::from_secs(10));
        let key = ReviewCache::key(&spec("system:bootstrap:abcdef", "nodeclient"));
        let t0 = Instant::now();
        assert!(!cache.is_allowed_at(&key, t0));
        cache.remember_allowed(key.clone(), t0);
        assert!(cache.is_allowed_at(&key, t0 + Duration::from_secs(9)));
        assert!(!cache.is_allowed_at(&key, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn every_field_of_the_review_is_part_of_the_key() {
        let base = spec("system:bootstrap:abcdef", "nodeclient");
        let mut other_group = base.clone();
        other_group.groups.push("system:masters".to_string());
        let mut other_extra = base.clone();
        other_extra
            .extra
            .insert("k".to_string(), vec!["v".to_string()].into());
        let mut other_uid = base.clone();
        other_uid.uid = "u-1".to_string();
        let others = [
            spec("system:bootstrap:123456", "nodeclient"),
            spec("system:bootstrap:abcdef", "selfnodeclient"),
            other_group,
            other_extra,
            other_uid,
        ];
        let cache = ReviewCache::default();
        cache.remember_allowed(ReviewCache::key(&base), Instant::now());
        assert!(cache.is_allowed(&ReviewCache::key(&base)));
        for other in &others {
            assert!(!cache.is_allowed(&ReviewCache::key(other)), "{other:?}");
        }
    }

    #[test]
    fn expired_entries_are_dropped_when_the_cache_grows() {
        let cache = ReviewCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..PRUNE_ABOVE {
            cache.remember_allowed(format!("old-{i}"), t0);
        }
        assert_eq!(cache.len(), PRUNE_ABOVE);
        cache.remember_allowed("new".to_string(), t0 + Duration::from_secs(11));
        assert_eq!(cache.len(), 1);
        assert!(cache.is_allowed_at("new", t0 + Duration::from_secs(11)));
    }
}
