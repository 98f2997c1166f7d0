//! Errors of the pki crate. Messages name the file (or PEM source) they are about, and where
//! Kubernetes has an exact string for a condition, the message is that string.

use std::fmt;
use std::time::SystemTime;

/// Everything that can go wrong while loading, parsing, building or signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read.
    #[error("failed to read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not PEM at all, or a PEM block is malformed.
    #[error("{source_name}: failed to decode PEM: {reason}")]
    Pem {
        /// File name or a description of the input.
        source_name: String,
        /// What the PEM decoder said.
        reason: String,
    },
    /// The input holds PEM, but no block of the wanted type.
    #[error("{source_name}: no {expected} PEM block found")]
    MissingPemBlock {
        /// File name or a description of the input.
        source_name: String,
        /// The block type looked for.
        expected: &'static str,
    },
    /// The private key is encrypted; we never prompt for passphrases.
    #[error(
        "{source_name}: the private key is encrypted; decrypt it first (e.g. `openssl pkey -in KEY -out PLAIN`)"
    )]
    EncryptedKey {
        /// File name or a description of the input.
        source_name: String,
    },
    /// No usable private key block (same wording as client-go's keyutil).
    #[error("{source_name}: data does not contain a valid RSA or ECDSA private key")]
    NoPrivateKey {
        /// File name or a description of the input.
        source_name: String,
    },
    /// A private key block was found but could not be decoded.
    #[error("{source_name}: failed to parse {block_type} private key: {reason}")]
    InvalidPrivateKey {
        /// File name or a description of the input.
        source_name: String,
        /// The PEM block type.
        block_type: String,
        /// Why it failed.
        reason: String,
    },
    /// Key generation failed in the crypto library.
    #[error("failed to generate {algorithm} key: {reason}")]
    KeyGeneration {
        /// What was asked for.
        algorithm: String,
        /// Why it failed.
        reason: String,
    },
    /// The first PEM block of a CSR is not a `CERTIFICATE REQUEST` (upstream's exact wording).
    #[error("PEM block type must be CERTIFICATE REQUEST")]
    CsrPemType,
    /// The CSR is not valid PKCS#10 DER.
    #[error("x509: failed to parse certificate request: {0}")]
    CsrParse(String),
    /// The CSR self-signature does not verify.
    #[error("x509: certificate request signature verification failed: {0}")]
    CsrSignature(String),
    /// A certificate could not be parsed.
    #[error("{source_name}: failed to parse certificate: {reason}")]
    CertificateParse {
        /// File name or a description of the input.
        source_name: String,
        /// Why it failed.
        reason: String,
    },
    /// The CA certificate is not a CA.
    #[error(
        "{source_name}: certificate \"{subject}\" is not a CA certificate (BasicConstraints CA:TRUE is missing)"
    )]
    NotCa {
        /// File name or a description of the input.
        source_name: String,
        /// The certificate's subject.
        subject: String,
    },
    /// The CA certificate's KeyUsage forbids signing certificates.
    #[error("{source_name}: CA certificate \"{subject}\" has a KeyUsage without keyCertSign")]
    CaCannotSign {
        /// File name or a description of the input.
        source_name: String,
        /// The certificate's subject.
        subject: String,
    },
    /// The CA certificate has expired.
    #[error("{source_name}: CA certificate \"{subject}\" expired at {}", GoTime(*not_after))]
    CaExpired {
        /// File name or a description of the input.
        source_name: String,
        /// The certificate's subject.
        subject: String,
        /// When it expired.
        not_after: SystemTime,
    },
    /// The private key is not the key of the (first) CA certificate.
    #[error(
        "private key {key_source} does not match the public key of CA certificate \"{subject}\" (the first certificate in {cert_source})"
    )]
    CaKeyMismatch {
        /// Where the certificate came from.
        cert_source: String,
        /// Where the key came from.
        key_source: String,
        /// The certificate's subject.
        subject: String,
    },
    /// Usage strings that are not in the Kubernetes enum (upstream's exact wording, Go `%q` list).
    #[error("unrecognized usage values: {}", GoQuotedList(.0))]
    UnrecognizedUsages(Vec<String>),
    /// The CA expired before the backdated NotBefore (upstream's exact wording).
    #[error("the signer has expired: NotAfter={}", GoTime(*.0))]
    SignerExpired(SystemTime),
    /// The CA expired before now (upstream's exact wording).
    #[error("refusing to sign a certificate that expired in the past: NotAfter={}", GoTime(*.0))]
    ExpiredInPast(SystemTime),
    /// The public key type cannot be placed in a certificate or used for signing.
    #[error("unsupported public key algorithm {0}")]
    UnsupportedKey(String),
    /// A name or SAN cannot be encoded.
    #[error("cannot encode {0}")]
    Encode(String),
    /// The signature operation failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Formats a time the way Go's `time.Time` `%v` does for UTC values
/// (`2006-01-02 15:04:05 +0000 UTC`), so error messages match upstream byte for byte.
pub(crate) struct GoTime(pub SystemTime);

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = time::OffsetDateTime::from(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        let nanos = t.nanosecond();
        if nanos != 0 {
            // Go prints the fraction with trailing zeros removed.
            let frac = format!("{nanos:09}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        write!(f, " +0000 UTC")
    }
}

/// Formats a list the way Go's `%q` formats a `[]string`: `["a" "b"]`.
pub(crate) struct GoQuotedList<'a>(pub &'a [String]);

impl fmt::Display for GoQuotedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s:?}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn go_time_format_matches_upstream_shape() {
        let t = UNIX_EPOCH + Duration::from_secs(1_714_557_600); // 2024-05-01T10:00:00Z
        assert_eq!(GoTime(t).to_string(), "2024-05-01 10:00:00 +0000 UTC");
        let t = t + Duration::from_millis(250);
        assert_eq!(GoTime(t).to_string(), "2024-05-01 10:00:00.25 +0000 UTC");
    }

    #[test]
    fn unrecognized_usages_message_uses_go_quoting() {
        let e = PkiError::UnrecognizedUsages(vec!["foo".into(), "bar baz".into()]);
        assert_eq!(
            e.to_string(),
            r#"unrecognized usage values: ["foo" "bar baz"]"#
        );
    }
}
