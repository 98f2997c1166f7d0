//! Client certificates (`--client-ca-file`): a certificate chaining to the client CA, valid
//! now and allowed for client auth, authenticates as user = subject CN, groups = subject O.
//!
//! The chain is verified once per connection, but "valid now" is judged per request
//! ([`ClientCertificate::invalid_at`]), as Go's x509 authenticator, which verifies on every
//! request, does: a certificate that expires stops authenticating on a connection opened
//! before, and one presented a moment before its NotBefore (a clock a second ahead, a
//! certificate issued right after a revocation) authenticates on the same connection once
//! that time comes.
//!
//! WebPKI reads X.509 v3 only. Go's verifier, and so kube-apiserver, also accepts a version 1
//! leaf signed directly by the client CA -- what `openssl x509 -req` makes without `-extfile`,
//! as many user-certificate walkthroughs do -- so such a leaf is checked here by hand: issuer
//! is a client CA, signature verifies with that CA's key (SHA-1 refused, as Go does), both
//! valid now. A v1 certificate has no extensions, so no key usage limits it (Go: any usage).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::authentication::v1::{
    CREDENTIAL_ID_EXTRA, EXPIRED_CLIENT_CERTIFICATE_GROUP, EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX,
};
use protocol::revocation::v1alpha1::normalize_serial;
use rbac::UserInfo;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::oid_registry::{OID_PKCS1_SHA1WITHRSA, OID_SHA1_WITH_RSA};
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate, X509Version};

/// Why a presented client certificate did not authenticate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The chain does not verify against the client CA (unknown issuer, expired, wrong usage).
    #[error("client certificate rejected: {0}")]
    Verify(#[source] rustls::Error),
    /// The certificate verified but its subject cannot be read.
    #[error("client certificate subject unreadable: {0}")]
    Subject(String),
}

/// A client certificate that verified: who it names, and what a CertificateRevocation matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// CN and O ([`ClientCertificate::user`] adds the credential ID).
    pub user: UserInfo,
    /// `X509SHA256=<hex>`, kept apart from `user` so an open connection holds a string, not a
    /// map: the extra is built per request.
    pub credential_id: String,
    /// Lowercase hex without leading zero bytes (the revocation's stored form).
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The credential ID form (`X509SHA256=<hex>`) of the `--client-ca-file` certificate the
    /// chain ends at (decision 0029): shared with the authority, so a clone per connection.
    /// `None` only when no CA of the file can be told apart as the issuer (not expected for a
    /// chain that verified).
    pub issuer: Option<Arc<str>>,
}

impl ClientCertificate {
    /// The user a request authenticates as: CN, O and, as kube-apiserver 1.32+ adds, the
    /// credential ID in the extra.
    pub fn user(&self) -> UserInfo {
        let mut user = self.user.clone();
        user.extra.insert(
            CREDENTIAL_ID_EXTRA.to_string(),
            vec![self.credential_id.clone()],
        );
        user
    }

    /// Why the certificate does not authenticate at `now` (outside its validity), in Go's
    /// words; `None` inside it.
    pub fn invalid_at(&self, now: SystemTime) -> Option<String> {
        let at = |t: SystemTime| protocol::meta::Time::from_system_time(t).to_string();
        let (relation, bound) = if now < self.not_before {
            ("before", self.not_before)
        } else if now > self.not_after {
            ("after", self.not_after)
        } else {
            return None;
        };
        Some(format!(
            "client certificate {} of {:?}: x509: certificate has expired or is not yet valid: \
             current time {} is {relation} {}",
            self.serial,
            self.user.name,
            at(now),
            at(bound)
        ))
    }

    /// Whether the certificate expired at most `window` before `now` (decision 0027); never
    /// with a zero window.
    pub fn expired_within(&self, now: SystemTime, window: Duration) -> bool {
        !window.is_zero()
            && now
                .duration_since(self.not_after)
                .is_ok_and(|late| !late.is_zero() && late <= window)
    }

    /// Who an expired certificate is within the offline window: a user of its own, in one
    /// group, with the credential ID, so it gets only what RBAC grants that group (a request
    /// to renew itself), never the groups it names (`system:nodes`, `system:masters`).
    pub fn expired_identity(&self) -> UserInfo {
        let mut user = UserInfo::new(
            format!("{EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX}{}", self.user.name),
            [EXPIRED_CLIENT_CERTIFICATE_GROUP],
        );
        user.extra.insert(
            CREDENTIAL_ID_EXTRA.to_string(),
            vec![self.credential_id.clone()],
        );
        user
    }
}

/// One certificate of the client CA file, as the issuer of a client certificate is told.
#[derive(Debug)]
struct ClientCa {
    /// `X509SHA256=<hex>` of its DER (decision 0029), shared with every certificate it issued.
    id: Arc<str>,
    /// The DER of its subject name, matched against a certificate's issuer name.
    subject: Vec<u8>,
    /// What WebPKI trusts of it (subject, key and name constraints): a chain that verified
    /// under one authority verifies under another that has the same anchor.
    anchor: TrustAnchorKey,
    /// The parsed certificate, for the signature check when several CAs share the name.
    certificate: pki::Certificate,
}

/// The parts of a trust anchor that decide whether a chain verifies under it.
#[derive(Debug, PartialEq, Eq)]
struct TrustAnchorKey {
    subject: Vec<u8>,
    spki: Vec<u8>,
    name_constraints: Option<Vec<u8>>,
}

impl ClientCa {
    fn parse(der: &CertificateDer<'_>) -> Option<ClientCa> {
        let (_, parsed) = X509Certificate::from_der(der).ok()?;
        let name_constraints = parsed
            .extensions()
            .iter()
            .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS)
            .map(|e| e.value.to_vec());
        let subject = parsed.subject().as_raw().to_vec();
        Some(ClientCa {
            id: Arc::from(pki::credential_id(der)),
            anchor: TrustAnchorKey {
                subject: subject.clone(),
                spki: parsed.public_key().raw.to_vec(),
                name_constraints,
            },
            subject,
            certificate: pki::Certificate::from_der(der).ok()?,
        })
    }
}

/// The client CA and how to turn a verified certificate into a user.
#[derive(Debug)]
pub struct ClientCertAuthority {
    verifier: Arc<dyn ClientCertVerifier>,
    /// The client CA certificates the verifier trusts, for version 1 leaves.
    roots: Vec<CertificateDer<'static>>,
    /// The same, parsed once, with their credential IDs (which CA issued a certificate).
    cas: Vec<ClientCa>,
}

impl ClientCertAuthority {
    /// Wraps a WebPKI verifier built over `roots`, the client CA's certificates.
    pub fn new(verifier: Arc<dyn ClientCertVerifier>, roots: Vec<CertificateDer<'static>>) -> Self {
        let cas = roots.iter().filter_map(ClientCa::parse).collect();
        ClientCertAuthority {
            verifier,
            roots,
            cas,
        }
    }

    /// Verifies the peer's chain (end entity first) and reads the user from its subject.
    pub fn authenticate(
        &self,
        chain: &[CertificateDer<'_>],
    ) -> Result<ClientCertificate, X509Error> {
        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or(X509Error::Verify(rustls::Error::NoCertificatesPresented))?;
        if let Err(error) =
            self.verifier
                .verify_client_cert(end_entity, intermediates, UnixTime::now())
        {
            let v1_accepted = intermediates.is_empty()
                && issued_v1_leaf(end_entity, &self.roots, ASN1Time::now());
            if !v1_accepted && !self.verifies_at_its_bound(end_entity, intermediates, &error) {
                return Err(X509Error::Verify(error));
            }
        }
        let mut certificate = client_certificate(end_entity)?;
        certificate.issuer = self.issuer_of(chain).map(|ca| Arc::clone(&ca.id));
        Ok(certificate)
    }

    /// The CA of the file a verified chain ends at: the first certificate of the chain whose
    /// issuer name is a CA's subject. Names alone decide, with no signature work, unless
    /// several CAs share the name (old and new CA during a rotation): then the one whose key
    /// verifies the certificate's signature.
    fn issuer_of(&self, chain: &[CertificateDer<'_>]) -> Option<&ClientCa> {
        for der in chain {
            let Ok((_, parsed)) = X509Certificate::from_der(der) else {
                return None;
            };
            let issuer = parsed.issuer().as_raw();
            let mut named = self.cas.iter().filter(|ca| ca.subject == issuer);
            let Some(first) = named.next() else {
                continue;
            };
            if named.next().is_none() {
                return Some(first);
            }
            let certificate = pki::Certificate::from_der(der).ok()?;
            return self
                .cas
                .iter()
                .filter(|ca| ca.subject == issuer)
                .find(|ca| certificate.verify_issued_by(&ca.certificate).is_ok());
        }
        None
    }

    /// Whether a certificate that verified under `before` with the issuer `issuer` (its
    /// [`ClientCertificate::issuer`]) still verifies under this authority, and the ID of its
    /// issuer here: the anchor it chained to (subject, key, name constraints) is still trusted.
    /// Nothing of the chain is kept per connection for this: the chain is unchanged, and
    /// WebPKI's answer depends only on the chain, the anchors and the time (checked per
    /// request).
    pub fn still_trusts(&self, before: &ClientCertAuthority, issuer: &str) -> Option<Arc<str>> {
        let anchor = &before.cas.iter().find(|ca| &*ca.id == issuer)?.anchor;
        self.cas
            .iter()
            .find(|ca| ca.anchor == *anchor)
            .map(|ca| Arc::clone(&ca.id))
    }

    /// The credential IDs of the CAs, in file order.
    pub fn ca_ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.cas.iter().map(|ca| &ca.id)
    }

    /// Whether a chain refused only because of its leaf's dates verifies at the bound it
    /// missed: at the leaf's NotBefore when it is not valid yet, at its NotAfter when it has
    /// expired (then its intermediates and a root of the same issuer must be valid now). Each
    /// request then checks the time ([`ClientCertificate::invalid_at`]) and decides what an
    /// expired certificate may do ([`ClientCertificate::expired_within`]): nothing, unless the
    /// apiserver has an offline window (decision 0027).
    fn verifies_at_its_bound(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        error: &rustls::Error,
    ) -> bool {
        use rustls::CertificateError::{Expired, ExpiredContext, NotValidYet, NotValidYetContext};
        let rustls::Error::InvalidCertificate(reason) = error else {
            return false;
        };
        let expired = match reason {
            NotValidYet | NotValidYetContext { .. } => false,
            Expired | ExpiredContext { .. } => true,
            _ => return false,
        };
        let Some(bound) = client_certificate(end_entity)
            .ok()
            .map(|c| if expired { c.not_after } else { c.not_before })
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        else {
            return false;
        };
        self.verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::since_unix_epoch(bound))
            .is_ok()
            && (!expired || self.issuers_valid_now(end_entity, intermediates))
    }

    /// The intermediates are valid now, and so is a trusted root that issued the top of the
    /// chain: an expired leaf must not bring back an expired CA.
    fn issuers_valid_now(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> bool {
        let now = ASN1Time::now();
        let parsed: Option<Vec<X509Certificate<'_>>> = intermediates
            .iter()
            .map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .collect();
        let Some(parsed) = parsed else {
            return false;
        };
        if !parsed.iter().all(|c| c.validity().is_valid_at(now)) {
            return false;
        }
        let top_issuer = match parsed.last() {
            Some(top) => top.issuer().as_raw().to_vec(),
            None => match X509Certificate::from_der(end_entity) {
                Ok((_, leaf)) => leaf.issuer().as_raw().to_vec(),
                Err(_) => return false,
            },
        };
        self.roots.iter().any(|root| {
            X509Certificate::from_der(root).is_ok_and(|(_, root)| {
                root.subject().as_raw() == top_issuer.as_slice() && root.validity().is_valid_at(now)
            })
        })
    }
}

/// The SubjectPublicKeyInfo of a version 1 certificate (`None` for any other input), so the
/// handshake can check its holder's signature without WebPKI.
pub fn v1_public_key(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    (cert.version() == X509Version::V1).then(|| cert.public_key().raw.to_vec())
}

/// Whether `der` is a version 1 certificate, valid at `now`, whose signature verifies with
/// the key of a root it names as issuer that is valid at `now` too.
fn issued_v1_leaf(der: &[u8], roots: &[CertificateDer<'_>], now: ASN1Time) -> bool {
    let Ok((_, leaf)) = X509Certificate::from_der(der) else {
        return false;
    };
    let algorithm = &leaf.signature_algorithm.algorithm;
    if leaf.version() != X509Version::V1
        || !leaf.validity().is_valid_at(now)
        || *algorithm == OID_PKCS1_SHA1WITHRSA
        || *algorithm == OID_SHA1_WITH_RSA
        || algorithm.to_id_string() == ECDSA_WITH_SHA1
    {
        return false;
    }
    roots.iter().any(|root| {
        X509Certificate::from_der(root).is_ok_and(|(_, root)| {
            root.subject().as_raw() == leaf.issuer().as_raw()
                && root.validity().is_valid_at(now)
                && leaf.verify_signature(Some(root.public_key())).is_ok()
        })
    })
}

/// ecdsa-with-SHA1 (RFC 3279); x509-parser's verifier would not take it anyway.
const ECDSA_WITH_SHA1: &str = "1.2.840.10045.4.1";

/// The user, serial number and validity of a verified certificate.
fn client_certificate(der: &CertificateDer<'_>) -> Result<ClientCertificate, X509Error> {
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| X509Error::Subject(e.to_string()))?;
    let hex = cert
        .raw_serial()
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    Ok(ClientCertificate {
        user: user_from_certificate(&cert)?,
        credential_id: pki::credential_id(der.as_ref()),
        // An empty serial (not DER, but parsed leniently) stays empty and matches nothing.
        serial: normalize_serial(&hex).unwrap_or(hex),
        not_before: system_time(cert.validity().not_before),
        not_after: system_time(cert.validity().not_after),
        issuer: None,
    })
}

/// Before the epoch counts as the epoch: no client certificate of ours starts that early.
fn system_time(t: ASN1Time) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or_default())
}

/// User = CN (the last one, as Go's `pkix.Name` keeps it), groups = every O in order.
fn user_from_certificate(cert: &X509Certificate<'_>) -> Result<UserInfo, X509Error> {
    let subject = cert.subject();
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        attr.as_str()
            .map(str::to_string)
            .map_err(|e| X509Error::Subject(e.to_string()))
    };
    let name = match subject.iter_common_name().last() {
        Some(cn) => text(cn)?,
        None => String::new(),
    };
    let groups = subject
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UserInfo::new(name, groups))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// Runs `openssl` in `dir`; these tests make certificates the way operators do.
    fn openssl(dir: &Path, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (it is installed by .ci/run)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn der(dir: &Path, pem_file: &str) -> CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_file(dir.join(pem_file)).expect("certificate PEM")
    }

    /// A self-signed P-256 CA `name` (v3, as openssl req -x509 makes it).
    fn ca(dir: &Path, name: &str) {
        ca_with_key(
            dir,
            name,
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        );
    }

    fn ca_with_key(dir: &Path, name: &str, key: &[&str]) {
        let (key_file, cert_file, subject) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN={name}"),
        );
        let mut args = vec!["req", "-x509"];
        args.extend_from_slice(key);
        args.extend_from_slice(&[
            "-nodes", "-keyout", &key_file, "-out", &cert_file, "-subj", &subject, "-days", "2",
        ]);
        openssl(dir, &args);
    }

    /// `openssl x509 -req` without -extfile: a version 1 certificate for CN=jean.
    fn v1_leaf(dir: &Path, ca: &str, name: &str, digest: &str) {
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                "/O=dev/CN=jean",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "1",
                digest,
            ],
        );
    }

    fn in_days(days: i64) -> ASN1Time {
        ASN1Time::from_timestamp(ASN1Time::now().timestamp() + days * 24 * 3600).expect("time")
    }

    #[test]
    fn a_v1_leaf_signed_by_a_client_ca_is_accepted_while_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path(), "ca");
        v1_leaf(dir.path(), "ca", "jean", "-sha256");
        let leaf = der(dir.path(), "jean.crt");
        assert!(
            v1_public_key(&leaf).is_some(),
            "openssl made a v1 certificate"
        );
        let roots = vec![der(dir.path(), "ca.crt")];

        assert!(issued_v1_leaf(&leaf, &roots, ASN1Time::now()));
        let certificate = client_certificate(&leaf).expect("subject");
        assert_eq!(certificate.user.name, "jean");
        assert_eq!(certificate.user.groups, vec!["dev".to_string()]);
        // The serial in the form `openssl x509 -serial` prints, normalized.
        let output = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in", "jean.crt"])
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        let printed = String::from_utf8_lossy(&output.stdout);
        let printed = printed.trim().trim_start_matches("serial=");
        assert_eq!(
            certificate.serial,
            normalize_serial(printed).expect("hex serial")
        );
        let age = SystemTime::now()
            .duration_since(certificate.not_before)
            .expect("not before is in the past");
        assert!(age < Duration::from_secs(600), "{age:?}");
        // Expired (the leaf lives one day) or not yet valid: refused.
        assert!(!issued_v1_leaf(&leaf, &roots, in_days(3)));
        assert!(!issued_v1_leaf(&leaf, &roots, in_days(-3)));
    }

    #[test]
    fn a_v1_leaf_of_another_ca_or_with_sha1_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path(), "ca");
        ca(dir.path(), "other");
        v1_leaf(dir.path(), "other", "foreign", "-sha256");
        v1_leaf(dir.path(), "ca", "sha1", "-sha1");
        let roots = vec![der(dir.path(), "ca.crt")];
        assert!(!issued_v1_leaf(
            &der(dir.path(), "foreign.crt"),
            &roots,
            ASN1Time::now()
        ));
        assert!(!issued_v1_leaf(
            &der(dir.path(), "sha1.crt"),
            &roots,
            ASN1Time::now()
        ));

        // RSA: SHA-256 is accepted, SHA-1 refused (as Go refuses it) although it verifies.
        ca_with_key(dir.path(), "rsa", &["-newkey", "rsa:2048"]);
        v1_leaf(dir.path(), "rsa", "rsa-sha256", "-sha256");
        v1_leaf(dir.path(), "rsa", "rsa-sha1", "-sha1");
        let rsa_roots = vec![der(dir.path(), "rsa.crt")];
        let now = ASN1Time::now();
        assert!(issued_v1_leaf(
            &der(dir.path(), "rsa-sha256.crt"),
            &rsa_roots,
            now
        ));
        assert!(!issued_v1_leaf(
            &der(dir.path(), "rsa-sha1.crt"),
            &rsa_roots,
            now
        ));

        // Same subject as our CA but another key: the signature decides, not the name.
        let dir2 = tempfile::tempdir().expect("tempdir");
        ca(dir2.path(), "ca");
        v1_leaf(dir2.path(), "ca", "impostor", "-sha256");
        assert!(!issued_v1_leaf(
            &der(dir2.path(), "impostor.crt"),
            &roots,
            ASN1Time::now()
        ));
    }

    /// A client CA made with `pki`, and an authority over it as the server builds one.
    fn authority(ca: &pki::CertificateAuthority) -> ClientCertAuthority {
        use rustls_pki_types::pem::PemObject;
        let root = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root.clone()).expect("root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            crate::tls::crypto_provider(),
        )
        .allow_unauthenticated()
        .build()
        .expect("verifier");
        ClientCertAuthority::new(verifier, vec![root])
    }

    /// A client certificate of `ca` for `alice` that the signer dated at `at`.
    fn leaf(ca: &pki::CertificateAuthority, at: SystemTime) -> CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject;
        let params = pki::LeafParams {
            common_name: "alice".to_string(),
            organizations: vec!["dev".to_string()],
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: Duration::from_secs(3600),
        };
        let (pem, _key) = ca.issue_leaf_at(&params, at).expect("leaf");
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("leaf PEM")
    }

    /// A day-long client CA and the authority over it.
    fn client_ca() -> (pki::CertificateAuthority, ClientCertAuthority) {
        let day = Duration::from_secs(24 * 3600);
        let ca =
            pki::CertificateAuthority::generate("client-ca", pki::KeyAlgorithm::EcdsaP256, day)
                .expect("CA");
        let authority = authority(&ca);
        (ca, authority)
    }

    #[test]
    fn validity_is_judged_per_request_not_once_per_connection() {
        let (ca, authority) = client_ca();
        let now = SystemTime::now();

        // Dated 10 minutes ahead (NotBefore 5 minutes ahead, after the backdate): the chain
        // is accepted, and each request is refused until NotBefore, then authenticated.
        let early = authority
            .authenticate(&[leaf(&ca, now + Duration::from_secs(600))])
            .expect("verifies once valid");
        let refused = early.invalid_at(now).expect("not valid yet");
        assert!(
            refused.contains("x509: certificate has expired or is not yet valid: current time")
                && refused.contains(" is before "),
            "{refused}"
        );
        assert_eq!(early.invalid_at(early.not_before), None);
        let expired = early
            .invalid_at(early.not_after + Duration::from_secs(1))
            .expect("expired");
        assert!(expired.contains(" is after "), "{expired}");

        // Not yet valid, or expired, but from another CA: refused at once, as before.
        let day = Duration::from_secs(24 * 3600);
        let other = pki::CertificateAuthority::generate("other", pki::KeyAlgorithm::EcdsaP256, day)
            .expect("CA");
        let stranger = leaf(&other, now + Duration::from_secs(600));
        assert!(authority.authenticate(&[stranger]).is_err());
        let stranger = leaf(&other, now - Duration::from_secs(2 * 3600));
        assert!(authority.authenticate(&[stranger]).is_err());
    }

    #[test]
    fn an_expired_certificate_is_judged_per_request_against_the_offline_window() {
        let (ca, authority) = client_ca();
        let now = SystemTime::now();
        // Issued two hours ago for an hour: expired an hour ago. Its chain verified at its
        // NotAfter, so the connection carries it; each request decides.
        let der = leaf(&ca, now - Duration::from_secs(2 * 3600));
        let expired = authority
            .authenticate(std::slice::from_ref(&der))
            .expect("verified until expiry");
        assert!(
            expired
                .invalid_at(now)
                .is_some_and(|r| r.contains(" is after "))
        );
        let hour = Duration::from_secs(3600);
        assert!(!expired.expired_within(now, Duration::ZERO));
        assert!(!expired.expired_within(now, hour / 2));
        assert!(expired.expired_within(now, 2 * hour));
        // Not expired yet: never the restricted identity.
        assert!(!expired.expired_within(expired.not_after, 2 * hour));

        // The restricted identity keeps only the credential ID, kube-apiserver's form.
        let id = pki::credential_id(&der);
        assert!(id.starts_with("X509SHA256=") && id.len() == 11 + 64, "{id}");
        assert_eq!(expired.credential_id, id);
        assert_eq!(
            expired.user().extra[CREDENTIAL_ID_EXTRA],
            std::slice::from_ref(&id)
        );
        let restricted = expired.expired_identity();
        assert_eq!(restricted.name, "kubelet-tls-bootstrap:expired:alice");
        assert_eq!(
            restricted.groups,
            ["kubelet-tls-bootstrap:expired-client-certificates"]
        );
        assert_eq!(restricted.extra[CREDENTIAL_ID_EXTRA], [id]);
    }

    #[test]
    fn v3_certificates_are_left_to_webpki() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path(), "ca");
        let v3 = der(dir.path(), "ca.crt");
        assert!(v1_public_key(&v3).is_none());
        assert!(!issued_v1_leaf(
            &v3,
            std::slice::from_ref(&v3),
            ASN1Time::now()
        ));
        assert!(v1_public_key(b"not a certificate").is_none());
    }

    /// An authority over several CAs, in order, as the server builds one from a bundle file.
    fn authority_of(cas: &[&pki::CertificateAuthority]) -> ClientCertAuthority {
        use rustls_pki_types::pem::PemObject;
        let roots: Vec<CertificateDer<'static>> = cas
            .iter()
            .map(|ca| CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM"))
            .collect();
        let mut store = rustls::RootCertStore::empty();
        for root in &roots {
            store.add(root.clone()).expect("root");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            crate::tls::crypto_provider(),
        )
        .allow_unauthenticated()
        .build()
        .expect("verifier");
        ClientCertAuthority::new(verifier, roots)
    }

    fn ca_id(ca: &pki::CertificateAuthority) -> String {
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM");
        pki::credential_id(&der)
    }

    #[test]
    fn the_issuer_is_the_ca_of_the_file_that_verified_even_when_names_are_shared() {
        let day = Duration::from_secs(24 * 3600);
        // Old and new CA of a rotation: the same name, other keys.
        let old =
            pki::CertificateAuthority::generate("kubernetes", pki::KeyAlgorithm::EcdsaP256, day)
                .expect("CA");
        let new =
            pki::CertificateAuthority::generate("kubernetes", pki::KeyAlgorithm::EcdsaP256, day)
                .expect("CA");
        let other = pki::CertificateAuthority::generate("other", pki::KeyAlgorithm::EcdsaP256, day)
            .expect("CA");
        let now = SystemTime::now();
        let pair = authority_of(&[&old, &new]);
        assert_eq!(
            pair.cas[0].subject, pair.cas[1].subject,
            "the names are ambiguous: the signature decides"
        );
        for order in [
            [&old, &new, &other],
            [&new, &other, &old],
            [&other, &old, &new],
        ] {
            let both = authority_of(&order);
            for ca in [&old, &new, &other] {
                let certificate = both.authenticate(&[leaf(ca, now)]).expect("verifies");
                assert_eq!(certificate.issuer.as_deref(), Some(ca_id(ca).as_str()));
            }
        }
        // One CA of that name: found by name alone.
        let single = authority_of(&[&old]);
        let certificate = single.authenticate(&[leaf(&old, now)]).expect("verifies");
        assert_eq!(certificate.issuer.as_deref(), Some(ca_id(&old).as_str()));
        assert!(single.authenticate(&[leaf(&new, now)]).is_err());
        assert_eq!(
            single.ca_ids().map(|id| id.to_string()).collect::<Vec<_>>(),
            [ca_id(&old)]
        );
    }

    #[test]
    fn a_certificate_stays_trusted_while_its_ca_is_in_the_new_file() {
        let day = Duration::from_secs(24 * 3600);
        let old =
            pki::CertificateAuthority::generate("kubernetes", pki::KeyAlgorithm::EcdsaP256, day)
                .expect("CA");
        let new =
            pki::CertificateAuthority::generate("kubernetes", pki::KeyAlgorithm::EcdsaP256, day)
                .expect("CA");
        let only_old = authority_of(&[&old]);
        let both = authority_of(&[&new, &old]);
        let only_new = authority_of(&[&new]);
        let certificate = only_old
            .authenticate(&[leaf(&old, SystemTime::now())])
            .expect("verifies");
        let issuer = certificate.issuer.expect("issuer");
        // Still trusted once both are in the file, with the same issuer ID there.
        assert_eq!(
            both.still_trusts(&only_old, &issuer).as_deref(),
            Some(&*issuer)
        );
        // Not once the old CA is gone, although a CA of the same name is there.
        assert_eq!(only_new.still_trusts(&both, &issuer), None);
        assert_eq!(only_new.still_trusts(&only_old, &issuer), None);
        // An issuer the previous authority does not know: not trusted.
        assert_eq!(both.still_trusts(&only_old, "X509SHA256=00"), None);
    }
}
