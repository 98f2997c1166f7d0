//! The shapes of object names upstream's `validation.IsDNS1123Subdomain` and
//! `IsDNS1123Label` accept, for whoever must make or check a name before sending it.

/// Longest RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Longest RFC 1123 label.
pub const DNS1123_LABEL_MAX: usize = 63;

fn is_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length (the caller checks the length it needs).
pub fn is_dns1123_label_shape(label: &str) -> bool {
    !label.is_empty()
        && label.chars().all(|c| is_alnum(c) || c == '-')
        && label.starts_with(is_alnum)
        && label.ends_with(is_alnum)
}

/// Labels of that shape joined by `.`, at most 253 characters (upstream sets no per-label
/// limit for subdomains).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= DNS1123_SUBDOMAIN_MAX && name.split('.').all(is_dns1123_label_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_as_upstream() {
        for ok in ["a", "node-1", "example.com", "a1.b-2.c", &"a".repeat(253)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            &"a".repeat(254),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }
}
