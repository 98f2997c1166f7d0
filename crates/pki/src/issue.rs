//! Issuing certificates: upstream's csrsigning rules (`authority.go`, `policies.go`,
//! `signer.go`) for CSRs, and a direct path for lab and test leaves.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::ca::CertificateAuthority;
use crate::csr::Csr;
use crate::der;
use crate::error::PkiError;
use crate::key::PrivateKey;
use crate::pemfile;
use crate::usage::{self, Usage};

/// NotBefore is this far in the past, to absorb clock skew.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// From this TTL on, NotAfter is pulled in by [`BACKDATE`] too.
pub const SHORT_TTL_THRESHOLD: Duration = Duration::from_secs(8 * 3600);
/// The shortest TTL handed out, whatever `expirationSeconds` asks.
pub const MIN_TTL: Duration = Duration::from_secs(600);

/// What to put in a directly issued leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafParams {
    /// Subject CN.
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// Kubernetes usages, mapped to KeyUsage/ExtKeyUsage like CSR signing.
    pub usages: Vec<Usage>,
    /// How long from now it is valid (capped at the CA's NotAfter).
    pub validity: Duration,
}

/// The TTL upstream's signer uses: `expirationSeconds` absent -> `max_duration`; above it ->
/// `max_duration`; below 10 minutes -> 10 minutes; otherwise as requested.
pub fn signing_duration(expiration_seconds: Option<i32>, max_duration: Duration) -> Duration {
    let Some(seconds) = expiration_seconds else {
        return max_duration;
    };
    let requested = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    if requested > max_duration {
        max_duration
    } else if requested < MIN_TTL {
        MIN_TTL
    } else {
        requested
    }
}

/// NotBefore/NotAfter as `PermissiveSigningPolicy.apply` computes them, capped at the signer's
/// NotAfter, with its two expiry errors.
pub fn validity_window(
    now: SystemTime,
    ttl: Duration,
    signer_not_after: SystemTime,
) -> Result<(SystemTime, SystemTime), PkiError> {
    let not_before = now - BACKDATE;
    let mut not_after = if ttl < SHORT_TTL_THRESHOLD {
        now + ttl
    } else {
        now + ttl.saturating_sub(BACKDATE)
    };
    if not_after >= signer_not_after {
        not_after = signer_not_after;
    }
    if not_before >= signer_not_after {
        return Err(PkiError::SignerExpired(signer_not_after));
    }
    if now >= signer_not_after {
        return Err(PkiError::ExpiredInPast(signer_not_after));
    }
    Ok((not_before, not_after))
}

impl CertificateAuthority {
    /// Signs a (verified) CSR like kube-controller-manager's csrsigning controller: random
    /// 128-bit serial, subject and SANs copied from the request, requested extensions dropped,
    /// KeyUsage/ExtKeyUsage from `usages`, CA:FALSE, AKI from the CA. Returns one PEM
    /// `CERTIFICATE` block. Which subjects and SANs are acceptable is the signer policy's
    /// business ([`crate::signer::validate`]), not this function's.
    pub fn sign_csr(
        &self,
        csr: &Csr,
        usages: &[Usage],
        expiration_seconds: Option<i32>,
        max_duration: Duration,
        now: SystemTime,
    ) -> Result<String, PkiError> {
        self.sign_csr_starting_after(csr, usages, expiration_seconds, max_duration, now, None)
    }

    /// [`Self::sign_csr`] for a subject whose certificates starting at or before
    /// `revoked_until` are refused: when that time is past, NotBefore starts one second after
    /// it (times are whole seconds), so the backdate does not reach back into a revocation made
    /// before this certificate was issued. A future `revoked_until` is the operator refusing
    /// certificates issued until then, so it is left alone.
    pub fn sign_csr_starting_after(
        &self,
        csr: &Csr,
        usages: &[Usage],
        expiration_seconds: Option<i32>,
        max_duration: Duration,
        now: SystemTime,
        revoked_until: Option<SystemTime>,
    ) -> Result<String, PkiError> {
        let ttl = signing_duration(expiration_seconds, max_duration);
        let (mut not_before, not_after) = validity_window(now, ttl, self.not_after())?;
        if let Some(until) = revoked_until.filter(|until| *until <= now) {
            not_before = not_before.max(until + Duration::from_secs(1));
        }
        let sans = der::SanList {
            dns: csr.dns_names(),
            emails: csr.email_addresses(),
            ips: csr.ip_addresses(),
            uris: csr.uris(),
        };
        self.issue(
            csr.subject_der(),
            csr.public_key_der(),
            &sans,
            usages,
            not_before,
            not_after,
        )
    }

    /// Issues a certificate for a freshly generated P-256 key; returns (cert PEM, key PEM).
    pub fn issue_leaf(&self, params: &LeafParams) -> Result<(String, String), PkiError> {
        self.issue_leaf_at(params, SystemTime::now())
    }

    /// [`issue_leaf`](Self::issue_leaf) at a given time.
    pub fn issue_leaf_at(
        &self,
        params: &LeafParams,
        now: SystemTime,
    ) -> Result<(String, String), PkiError> {
        let key = PrivateKey::generate_p256()?;
        let signer_not_after = self.not_after();
        if now >= signer_not_after {
            return Err(PkiError::ExpiredInPast(signer_not_after));
        }
        let not_after = (now + params.validity).min(signer_not_after);
        let subject = der::encode_name(&params.common_name, &params.organizations);
        let sans = der::SanList {
            dns: &params.dns,
            ips: &params.ips,
            ..Default::default()
        };
        let cert = self.issue(
            &subject,
            &key.public_key_der(),
            &sans,
            &params.usages,
            now - BACKDATE,
            not_after,
        )?;
        Ok((cert, key.to_pem()))
    }

    fn issue(
        &self,
        subject: &[u8],
        spki: &[u8],
        sans: &der::SanList<'_>,
        usages: &[Usage],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<String, PkiError> {
        let (key_usage_bits, ext_key_usages) = usage::key_usages(usages);
        // Go's extension order: KeyUsage, ExtKeyUsage, BasicConstraints, AKI, SAN.
        let mut extensions = Vec::with_capacity(5);
        extensions.extend(der::key_usage_extension(key_usage_bits));
        extensions.extend(der::ext_key_usage_extension(&ext_key_usages));
        extensions.push(der::basic_constraints_extension(false));
        if let Some(id) = &self.authority_key_id {
            extensions.push(der::authority_key_id_extension(id));
        }
        let subject_is_empty = is_empty_name(subject);
        extensions.extend(der::subject_alt_name_extension(sans, subject_is_empty)?);
        let der_bytes = sign_tbs(
            &self.key,
            self.cert.subject_der(),
            subject,
            spki,
            not_before,
            not_after,
            &extensions,
        )?;
        Ok(pemfile::encode(pemfile::CERTIFICATE, &der_bytes))
    }
}

/// An empty RDNSequence is `30 00`.
fn is_empty_name(name_der: &[u8]) -> bool {
    name_der == [0x30, 0x00]
}

/// Encodes and signs a certificate; returns its DER.
pub(crate) fn sign_tbs(
    signing_key: &PrivateKey,
    issuer: &[u8],
    subject: &[u8],
    spki: &[u8],
    not_before: SystemTime,
    not_after: SystemTime,
    extensions: &[Vec<u8>],
) -> Result<Vec<u8>, PkiError> {
    let serial = random_serial()?;
    let tbs = der::TbsCertificate {
        serial: &serial,
        signature_algorithm: signing_key.signature_algorithm_der(),
        issuer,
        not_before: OffsetDateTime::from(not_before),
        not_after: OffsetDateTime::from(not_after),
        subject,
        spki,
        extensions,
    }
    .encode()?;
    let signature = signing_key.sign(&tbs)?;
    Ok(der::signed_envelope(
        &tbs,
        signing_key.signature_algorithm_der(),
        &signature,
    ))
}

/// A uniformly random serial in [1, 2^128), encoded as a positive INTEGER.
fn random_serial() -> Result<[u8; 16], PkiError> {
    let mut serial = [0u8; 16];
    loop {
        aws_lc_rs::rand::fill(&mut serial)
            .map_err(|_| PkiError::Signing("random number generator failed".to_string()))?;
        if serial.iter().any(|b| *b != 0) {
            return Ok(serial);
        }
    }
}

/// RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits (what Go and openssl use).
pub(crate) fn key_identifier(key: &PrivateKey) -> Vec<u8> {
    aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        key.public_key_raw(),
    )
    .as_ref()
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const YEAR: Duration = Duration::from_secs(8760 * 3600);

    #[test]
    fn ttl_rules_match_upstream() {
        assert_eq!(signing_duration(None, YEAR), YEAR);
        assert_eq!(signing_duration(Some(i32::MAX), YEAR), YEAR);
        assert_eq!(signing_duration(Some(599), YEAR), MIN_TTL);
        assert_eq!(signing_duration(Some(-5), YEAR), MIN_TTL);
        assert_eq!(signing_duration(Some(600), YEAR), MIN_TTL);
        assert_eq!(signing_duration(Some(3600), YEAR), HOUR);
        // A max below 10 minutes still wins over the lower bound only for larger requests.
        assert_eq!(signing_duration(Some(86_400), HOUR), HOUR);
    }

    #[test]
    fn validity_window_backdates_and_pulls_in_long_ttls() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let far = now + 10 * YEAR;
        let (nb, na) = validity_window(now, YEAR, far).unwrap();
        assert_eq!(nb, now - BACKDATE);
        assert_eq!(na, now + YEAR - BACKDATE);
        assert_eq!(na.duration_since(nb).unwrap(), YEAR);
        // 8h exactly counts as long.
        let (_, na) = validity_window(now, 8 * HOUR, far).unwrap();
        assert_eq!(na, now + 8 * HOUR - BACKDATE);
        // Short: no pull-in. 1h -> 1h05m total; 600s -> 15m total.
        let (nb, na) = validity_window(now, HOUR, far).unwrap();
        assert_eq!(na.duration_since(nb).unwrap(), HOUR + BACKDATE);
        let (nb, na) = validity_window(now, MIN_TTL, far).unwrap();
        assert_eq!(na.duration_since(nb).unwrap(), Duration::from_secs(900));
    }

    #[test]
    fn validity_is_capped_at_the_signer() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let signer = now + HOUR;
        let (_, na) = validity_window(now, YEAR, signer).unwrap();
        assert_eq!(na, signer);
    }

    #[test]
    fn expired_signers_give_upstream_errors() {
        let signer = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        // now - 5m >= NotAfter
        let err = validity_window(signer + HOUR, HOUR, signer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the signer has expired: NotAfter=2024-05-01 10:00:00 +0000 UTC"
        );
        // now - 5m < NotAfter <= now
        let err = validity_window(signer + Duration::from_secs(60), HOUR, signer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to sign a certificate that expired in the past: NotAfter=2024-05-01 10:00:00 +0000 UTC"
        );
    }
}
