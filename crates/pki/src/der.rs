//! DER building blocks for certificates and CSRs, written with yasna (the encoder rcgen itself
//! uses). We encode by hand instead of through rcgen's `CertificateParams` because rcgen's
//! `DistinguishedName` keeps one value per attribute type: it cannot carry several `O` values
//! (Kubernetes groups) nor copy a CSR subject or a CA issuer name byte for byte.

use std::net::IpAddr;

use time::OffsetDateTime;
use yasna::models::{GeneralizedTime, ObjectIdentifier, UTCTime};
use yasna::{DERWriter, Tag};

use crate::error::PkiError;
use crate::usage::ExtKeyUsage;

pub(crate) const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
pub(crate) const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_EXT_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_EXT_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
const OID_EXT_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
const OID_EXT_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
pub(crate) const OID_EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 14];

fn oid(components: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(components)
}

/// Go's rule for picking PrintableString (it also allows `*`, for wildcard names) else UTF8String.
fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\''
                    | b'('
                    | b')'
                    | b'+'
                    | b','
                    | b'-'
                    | b'.'
                    | b'/'
                    | b':'
                    | b'='
                    | b'?'
                    | b'*'
            )
    })
}

fn write_attribute(w: DERWriter<'_>, attr_oid: &[u64], value: &str) {
    w.write_sequence(|w| {
        w.next().write_oid(&oid(attr_oid));
        if is_printable(value) {
            w.next().write_printable_string(value);
        } else {
            w.next().write_utf8_string(value);
        }
    });
}

/// A Name as Go's `pkix.Name.ToRDNSequence` writes `{Organization, CommonName}`: one
/// multi-valued RDN holding every O (DER-sorted), then one RDN with the CN.
pub(crate) fn encode_name(common_name: &str, organizations: &[String]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if !organizations.is_empty() {
                w.next().write_set_of(|w| {
                    for o in organizations {
                        write_attribute(w.next(), OID_ORGANIZATION, o);
                    }
                });
            }
            if !common_name.is_empty() {
                w.next()
                    .write_set_of(|w| write_attribute(w.next(), OID_COMMON_NAME, common_name));
            }
        })
    })
}

/// UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5). Whole seconds only.
fn write_time(w: DERWriter<'_>, t: OffsetDateTime) -> Result<(), PkiError> {
    let t = t
        .replace_nanosecond(0)
        .map_err(|e| PkiError::Encode(format!("time {t}: {e}")))?;
    if let Some(utc) = UTCTime::from_datetime_opt(t) {
        w.write_utctime(&utc);
    } else if let Some(gt) = GeneralizedTime::from_datetime_opt(t) {
        w.write_generalized_time(&gt);
    } else {
        return Err(PkiError::Encode(format!("time {t}")));
    }
    Ok(())
}

/// `AlgorithmIdentifier` DER for a signature algorithm; RSA ones carry an explicit NULL.
pub(crate) fn algorithm_identifier(alg_oid: &[u64], null_params: bool) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&oid(alg_oid));
            if null_params {
                w.next().write_null();
            }
        })
    })
}

fn extension(ext_oid: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&oid(ext_oid));
            if critical {
                w.next().write_bool(true);
            }
            w.next().write_bytes(&value);
        })
    })
}

/// KeyUsage (critical) from bits where bit n is RFC 5280 bit n; `None` when no bit is set
/// (Go omits the extension then).
pub(crate) fn key_usage_extension(bits: u16) -> Option<Vec<u8>> {
    if bits == 0 {
        return None;
    }
    // DER named bit list: bit n is the n-th most significant bit; trailing zero bits dropped.
    let reversed = bits.reverse_bits();
    let bit_len = 16 - reversed.trailing_zeros() as usize;
    let bytes = reversed.to_be_bytes();
    let used = bytes.len().min(bit_len.div_ceil(8));
    let value = yasna::construct_der(|w| w.write_bitvec_bytes(&bytes[..used], bit_len));
    Some(extension(OID_EXT_KEY_USAGE, true, value))
}

pub(crate) fn ext_key_usage_extension(ekus: &[ExtKeyUsage]) -> Option<Vec<u8>> {
    if ekus.is_empty() {
        return None;
    }
    let value = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for e in ekus {
                w.next().write_oid(&oid(e.oid()));
            }
        })
    });
    Some(extension(OID_EXT_EXT_KEY_USAGE, false, value))
}

/// BasicConstraints, critical; for a leaf the empty SEQUENCE Go writes (cA defaults to FALSE).
pub(crate) fn basic_constraints_extension(is_ca: bool) -> Vec<u8> {
    let value = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if is_ca {
                w.next().write_bool(true);
            }
        })
    });
    extension(OID_EXT_BASIC_CONSTRAINTS, true, value)
}

pub(crate) fn subject_key_id_extension(key_id: &[u8]) -> Vec<u8> {
    extension(
        OID_EXT_SUBJECT_KEY_ID,
        false,
        yasna::construct_der(|w| w.write_bytes(key_id)),
    )
}

pub(crate) fn authority_key_id_extension(key_id: &[u8]) -> Vec<u8> {
    let value = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(key_id))
        })
    });
    extension(OID_EXT_AUTHORITY_KEY_ID, false, value)
}

/// The subject alternative names a certificate or CSR carries, in Go's marshalling order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SanList<'a> {
    pub dns: &'a [String],
    pub emails: &'a [String],
    pub ips: &'a [IpAddr],
    pub uris: &'a [String],
}

impl SanList<'_> {
    fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.emails.is_empty() && self.ips.is_empty() && self.uris.is_empty()
    }
}

fn check_ia5(kind: &str, s: &str) -> Result<(), PkiError> {
    if s.is_ascii() {
        Ok(())
    } else {
        Err(PkiError::Encode(format!("{kind} SAN {s:?}: not ASCII")))
    }
}

/// SubjectAltName; critical when the subject is empty (RFC 5280 4.2.1.6, Go does the same).
pub(crate) fn subject_alt_name_extension(
    sans: &SanList<'_>,
    subject_is_empty: bool,
) -> Result<Option<Vec<u8>>, PkiError> {
    if sans.is_empty() {
        return Ok(None);
    }
    for d in sans.dns {
        check_ia5("DNS", d)?;
    }
    for e in sans.emails {
        check_ia5("email", e)?;
    }
    for u in sans.uris {
        check_ia5("URI", u)?;
    }
    let value = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for d in sans.dns {
                w.next()
                    .write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(d));
            }
            for e in sans.emails {
                w.next()
                    .write_tagged_implicit(Tag::context(1), |w| w.write_ia5_string(e));
            }
            for ip in sans.ips {
                let octets = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                w.next()
                    .write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&octets));
            }
            for u in sans.uris {
                w.next()
                    .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(u));
            }
        })
    });
    Ok(Some(extension(
        OID_EXT_SUBJECT_ALT_NAME,
        subject_is_empty,
        value,
    )))
}

/// Everything that goes into a TBSCertificate, as ready-made DER pieces.
pub(crate) struct TbsCertificate<'a> {
    pub serial: &'a [u8],
    pub signature_algorithm: &'a [u8],
    pub issuer: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub subject: &'a [u8],
    pub spki: &'a [u8],
    pub extensions: &'a [Vec<u8>],
}

impl TbsCertificate<'_> {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, PkiError> {
        yasna::try_construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_tagged(Tag::context(0), |w| w.write_u8(2)); // v3
                w.next().write_bigint_bytes(self.serial, true);
                w.next().write_der(self.signature_algorithm);
                w.next().write_der(self.issuer);
                w.next().write_sequence(|w| {
                    write_time(w.next(), self.not_before)?;
                    write_time(w.next(), self.not_after)
                })?;
                w.next().write_der(self.subject);
                w.next().write_der(self.spki);
                if !self.extensions.is_empty() {
                    w.next().write_tagged(Tag::context(3), |w| {
                        w.write_sequence(|w| {
                            for e in self.extensions {
                                w.next().write_der(e);
                            }
                        })
                    });
                }
                Ok(())
            })
        })
    }
}

/// `SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }`, the shape shared by
/// certificates and PKCS#10 requests.
pub(crate) fn signed_envelope(tbs: &[u8], signature_algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            w.next().write_der(signature_algorithm);
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        })
    })
}

/// CertificationRequestInfo (RFC 2986) with an extensionRequest attribute when there are SANs.
pub(crate) fn certification_request_info(
    subject: &[u8],
    spki: &[u8],
    san_extension: Option<&[u8]>,
) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_der(subject);
            w.next().write_der(spki);
            w.next().write_tagged_implicit(Tag::context(0), |w| {
                w.write_set_of(|w| {
                    if let Some(ext) = san_extension {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(OID_EXTENSION_REQUEST));
                            w.next().write_set(|w| {
                                w.next().write_sequence(|w| w.next().write_der(ext));
                            });
                        });
                    }
                })
            });
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_bits_encode_like_openssl() {
        // digitalSignature | keyEncipherment -> 03 02 05 a0
        let ext = key_usage_extension(0b101).unwrap();
        assert!(
            ext.ends_with(&[0x04, 0x04, 0x03, 0x02, 0x05, 0xa0]),
            "{ext:02x?}"
        );
        // keyCertSign | cRLSign | digitalSignature -> 03 02 01 86
        let ext = key_usage_extension((1 << 5) | (1 << 6) | 1).unwrap();
        assert!(ext.ends_with(&[0x03, 0x02, 0x01, 0x86]), "{ext:02x?}");
        // decipherOnly needs the second byte -> 03 03 07 80 80 with digitalSignature
        let ext = key_usage_extension((1 << 8) | 1).unwrap();
        assert!(ext.ends_with(&[0x03, 0x03, 0x07, 0x80, 0x80]), "{ext:02x?}");
        assert!(key_usage_extension(0).is_none());
    }

    #[test]
    fn names_group_organizations_in_one_rdn() {
        let der = encode_name("system:node:a", &["system:nodes".into(), "b".into()]);
        // Parse back with x509-parser and check the values survive.
        use x509_parser::prelude::FromDer;
        let (_, parsed) = x509_parser::x509::X509Name::from_der(&der).unwrap();
        let rdns: Vec<_> = parsed.iter().collect();
        assert_eq!(rdns.len(), 2);
        assert_eq!(rdns[0].iter().count(), 2);
        let orgs: Vec<_> = parsed
            .iter_organization()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(orgs, vec!["b", "system:nodes"]); // DER SET OF order
    }

    #[test]
    fn non_printable_values_use_utf8() {
        assert!(is_printable("system:node:worker-1"));
        assert!(!is_printable("a&b"));
        assert!(!is_printable("ünïcode"));
    }
}
