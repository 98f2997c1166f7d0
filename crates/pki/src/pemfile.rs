//! PEM decoding with the `pem` crate, plus the small rules on top of it that operators' files
//! need: text around blocks is ignored (like Go's `pem.Decode` and openssl), and an encrypted
//! key is reported as such instead of as garbage.

use std::path::Path;

use crate::error::PkiError;

pub(crate) const CERTIFICATE: &str = "CERTIFICATE";
pub(crate) const CERTIFICATE_REQUEST: &str = "CERTIFICATE REQUEST";
pub(crate) const RSA_PRIVATE_KEY: &str = "RSA PRIVATE KEY";
pub(crate) const EC_PRIVATE_KEY: &str = "EC PRIVATE KEY";
pub(crate) const PRIVATE_KEY: &str = "PRIVATE KEY";
pub(crate) const ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";

/// All PEM blocks in `data`, in order; an empty list when there are none.
pub(crate) fn blocks(data: &[u8], source_name: &str) -> Result<Vec<pem::Pem>, PkiError> {
    pem::parse_many(data).map_err(|e| PkiError::Pem {
        source_name: source_name.to_string(),
        reason: e.to_string(),
    })
}

/// True for a legacy OpenSSL encrypted block (`Proc-Type: 4,ENCRYPTED`) or a PKCS#8
/// `ENCRYPTED PRIVATE KEY`.
pub(crate) fn is_encrypted(block: &pem::Pem) -> bool {
    block.tag() == ENCRYPTED_PRIVATE_KEY
        || block
            .headers()
            .get("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"))
}

/// Encodes one block with LF line endings and 64-column lines, as openssl and Go write it.
pub(crate) fn encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_around_blocks_is_ignored() {
        let body = encode(CERTIFICATE, b"\x30\x00");
        let input = format!("Certificate:\n  junk text\n{body}trailing\n");
        let found = blocks(input.as_bytes(), "x").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].contents(), b"\x30\x00");
    }

    #[test]
    fn no_pem_gives_empty_list() {
        assert!(blocks(b"just some garbage", "x").unwrap().is_empty());
    }

    #[test]
    fn legacy_encrypted_header_is_detected() {
        let input = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let found = blocks(input.as_bytes(), "x").unwrap();
        assert!(is_encrypted(&found[0]));
    }
}
