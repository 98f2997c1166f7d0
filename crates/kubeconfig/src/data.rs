//! The `*-data` fields: base64 (standard alphabet, padded) of PEM text.

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

// Go's encoding/json decodes []byte with base64.StdEncoding, which skips CR/LF and
// tolerates non-zero trailing bits; match it so every file kubectl accepts, we accept.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

pub(crate) fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    GO_STD.decode(compact)
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_line_breaks() {
        let pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let text = encode(pem);
        assert_eq!(decode(&text).unwrap(), pem);
        let wrapped = format!("{}\r\n{}", &text[..10], &text[10..]);
        assert_eq!(decode(&wrapped).unwrap(), pem);
    }

    #[test]
    fn rejects_bad_alphabet_and_padding() {
        assert!(decode("not base64!").is_err());
        assert!(decode("QUJD=").is_err());
    }
}
