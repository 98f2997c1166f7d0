//! `status.certificate` validation, as upstream's `validateCertificate`: one or more PEM blocks,
//! each of type `CERTIFICATE`, without headers, each a parseable X.509 certificate.
//!
//! The block scanner follows Go's `encoding/pem.Decode`: text around blocks is ignored and a
//! malformed block is skipped, so garbage yields "must contain at least one CERTIFICATE PEM block".

use base64::Engine as _;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// One decoded PEM block.
struct PemBlock {
    label: String,
    has_headers: bool,
    der: Vec<u8>,
}

/// `Ok` when `pem` is empty or a valid certificate chain; otherwise upstream's message.
pub(crate) fn validate_certificate(pem: &[u8]) -> Result<(), String> {
    if pem.is_empty() {
        return Ok(());
    }
    let mut rest = pem;
    let mut blocks = 0usize;
    while let Some((block, remaining)) = decode_next(rest) {
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "only CERTIFICATE PEM blocks are allowed, found {:?}",
                block.label
            ));
        }
        if block.has_headers {
            return Err("no PEM block headers are permitted".to_string());
        }
        blocks += 1;
        let text = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(&block.der)
        );
        pki::Certificate::from_pem(text.as_bytes()).map_err(|e| e.to_string())?;
        rest = remaining;
    }
    if blocks == 0 {
        return Err("must contain at least one CERTIFICATE PEM block".to_string());
    }
    Ok(())
}

/// The first well-formed block at or after the start of `data`, and the bytes after it.
fn decode_next(mut data: &[u8]) -> Option<(PemBlock, &[u8])> {
    loop {
        let start = find_line_start(data, BEGIN)?;
        let after_begin = &data[start + BEGIN.len()..];
        match decode_block(after_begin) {
            Some(found) => return Some(found),
            // Like Go: a malformed block is skipped and the search continues after its BEGIN.
            None => data = after_begin,
        }
    }
}

/// Parses `TYPE-----\n[headers\n\n]base64\n-----END TYPE-----` (the BEGIN marker already consumed).
fn decode_block(data: &[u8]) -> Option<(PemBlock, &[u8])> {
    let (type_line, mut rest) = split_line(data);
    let label = type_line.strip_suffix(DASHES)?;
    let label = std::str::from_utf8(label).ok()?.to_string();

    let mut has_headers = false;
    loop {
        let (line, after) = split_line(rest);
        if line.is_empty() {
            // A blank line ends the headers (and is allowed only after them).
            if has_headers {
                rest = after;
            }
            break;
        }
        if !line.contains(&b':') {
            break;
        }
        has_headers = true;
        rest = after;
    }

    let end_marker = [b"\n" as &[u8], END, label.as_bytes(), DASHES].concat();
    let (body, after_end) = if rest.starts_with(&end_marker[1..]) {
        (&rest[..0], &rest[end_marker.len() - 1..])
    } else {
        let at = find(rest, &end_marker)?;
        (&rest[..at], &rest[at + end_marker.len()..])
    };
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    // The END line must be followed by end of input or a line break (trailing spaces allowed).
    let (end_tail, remaining) = split_line(after_end);
    if !end_tail.iter().all(|c| *c == b' ' || *c == b'\t') {
        return None;
    }
    Some((
        PemBlock {
            label,
            has_headers,
            der,
        },
        remaining,
    ))
}

/// The line at the start of `data` (without `\n` or `\r\n`) and what follows it.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|c| *c == b'\n') {
        Some(i) => {
            let line = &data[..i];
            (line.strip_suffix(b"\r").unwrap_or(line), &data[i + 1..])
        }
        None => (data, &data[data.len()..]),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Position of `marker` at the start of `data` or right after a `\n`.
fn find_line_start(data: &[u8], marker: &[u8]) -> Option<usize> {
    if data.starts_with(marker) {
        return Some(0);
    }
    let mut needle = Vec::with_capacity(marker.len() + 1);
    needle.push(b'\n');
    needle.extend_from_slice(marker);
    find(data, &needle).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_certificate() -> String {
        let ca = pki::CertificateAuthority::generate(
            "test-ca",
            pki::KeyAlgorithm::EcdsaP256,
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        ca.cert_pem().to_string()
    }

    #[test]
    fn empty_is_allowed() {
        assert_eq!(validate_certificate(b""), Ok(()));
    }

    #[test]
    fn a_real_certificate_and_a_chain_pass() {
        let cert = test_certificate();
        assert_eq!(validate_certificate(cert.as_bytes()), Ok(()));
        let chain = format!("{cert}{cert}");
        assert_eq!(validate_certificate(chain.as_bytes()), Ok(()));
    }

    #[test]
    fn garbage_has_no_block() {
        assert_eq!(
            validate_certificate(b"not a certificate"),
            Err("must contain at least one CERTIFICATE PEM block".to_string())
        );
    }

    #[test]
    fn other_block_types_are_rejected() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            validate_certificate(key.as_bytes()),
            Err("only CERTIFICATE PEM blocks are allowed, found \"PRIVATE KEY\"".to_string())
        );
    }

    #[test]
    fn headers_are_rejected() {
        let cert = test_certificate();
        let with_header = cert.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1);
        assert_eq!(
            validate_certificate(with_header.as_bytes()),
            Err("no PEM block headers are permitted".to_string())
        );
    }

    #[test]
    fn unparseable_certificate_is_an_error() {
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(validate_certificate(bad.as_bytes()).is_err());
    }

    #[test]
    fn text_around_blocks_is_ignored() {
        let cert = test_certificate();
        let wrapped = format!("leading text\n{cert}trailing text\n");
        assert_eq!(validate_certificate(wrapped.as_bytes()), Ok(()));
    }
}
