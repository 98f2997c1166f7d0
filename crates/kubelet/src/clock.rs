//! Why the apiserver's certificate is "expired" or "not yet valid": this machine's clock, or
//! the certificate? Compares our clock with the apiserver's (its `Date` header) and says
//! which, and by how much, in words an operator acts on.

use std::time::{Duration, SystemTime};

use client::ClientConfig;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Clocks closer than this are taken to agree (the Date header has one-second resolution,
/// and the request itself takes time).
pub const AGREEMENT: Duration = Duration::from_secs(60);

/// What to do about a rejected certificate time, after asking the apiserver its clock.
pub async fn diagnose(config: &ClientConfig) -> String {
    let local = SystemTime::now();
    match client::clock::server_time(config).await {
        Ok(server) => explain(local, server),
        Err(e) => format!(
            "could not read the apiserver's clock to compare ({e}); check this machine's time ({})",
            rfc3339(local)
        ),
    }
}

/// The diagnosis for our clock `local` against the apiserver's `server`.
pub fn explain(local: SystemTime, server: SystemTime) -> String {
    let (gap, direction) = offset(local, server);
    if gap < AGREEMENT {
        return format!(
            "this machine's clock agrees with the apiserver's ({}), so the certificate itself is \
             outside its validity: check the apiserver's serving certificate (--tls-cert-file) \
             and the CA in the kubeconfig",
            rfc3339(server)
        );
    }
    format!(
        "this machine's clock ({}) is {} {direction} the apiserver's ({}, from its Date \
         header): set the time right (NTP, e.g. timedatectl set-ntp true) and start again",
        rfc3339(local),
        protocol::meta::human_duration(gap),
        rfc3339(server)
    )
}

/// Whether our clock `local` and the apiserver's `server` agree within [`AGREEMENT`].
pub fn agree(local: SystemTime, server: SystemTime) -> bool {
    offset(local, server).0 < AGREEMENT
}

/// How far apart the clocks are, and whether ours is "behind" or "ahead of" the server's.
fn offset(local: SystemTime, server: SystemTime) -> (Duration, &'static str) {
    match server.duration_since(local) {
        Ok(behind) => (behind, "behind"),
        Err(ahead) => (ahead.duration(), "ahead of"),
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{t:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
    }

    #[test]
    fn a_clock_days_behind_is_named_with_both_times() {
        let server = at(1_795_816_233);
        let local = at(1_795_816_233 - 3 * 86_400 - 4 * 3600 - 59);
        let text = explain(local, server);
        assert!(
            text.starts_with("this machine's clock (2026-11-")
                && text.contains(" is 3d4h behind the apiserver's (2026-11-"),
            "{text}"
        );
        assert!(text.contains("timedatectl set-ntp true"), "{text}");
    }

    #[test]
    fn a_clock_ahead_and_clocks_that_agree() {
        let server = at(1_795_816_233);
        let text = explain(at(1_795_816_233 + 450), server);
        assert!(
            text.contains(" is 7m30s ahead of the apiserver's"),
            "{text}"
        );
        let text = explain(at(1_795_816_233 + 20), server);
        assert!(
            text.starts_with("this machine's clock agrees with the apiserver's"),
            "{text}"
        );
        assert!(text.contains("--tls-cert-file"), "{text}");
    }
}
