//! Object names: the validation rules upstream applies per kind, `generateName`, and uids.

use protocol::meta::StatusCause;
use rand::Rng;

/// Which rule a kind's names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (nodes, secrets, leases, events).
    Dns1123Subdomain,
    /// RFC 1123 label (namespaces).
    Dns1123Label,
    /// Anything usable as one URL path segment (RBAC objects, which use `:`; CSRs).
    PathSegment,
    /// Not stored, not checked (access reviews).
    Any,
}

use protocol::meta::names::{DNS1123_LABEL_MAX, DNS1123_SUBDOMAIN_MAX, is_dns1123_label_shape};

/// Upstream's `validation.NameIsDNSSubdomain` family: the reasons why `name` is not valid,
/// as `metadata.name` causes (empty when valid).
pub fn validate(rule: NameRule, name: &str, field: &str) -> Vec<StatusCause> {
    let problems = match rule {
        NameRule::Dns1123Subdomain => dns1123_subdomain(name),
        NameRule::Dns1123Label => dns1123_label(name),
        NameRule::PathSegment => path_segment(name),
        NameRule::Any => Vec::new(),
    };
    problems
        .into_iter()
        .map(|detail| StatusCause::invalid_value(field, name, &detail))
        .collect()
}

fn dns1123_subdomain(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > DNS1123_SUBDOMAIN_MAX {
        problems.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !name.split('.').all(is_dns1123_label_shape) {
        problems.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_string(),
        );
    }
    problems
}

fn dns1123_label(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > DNS1123_LABEL_MAX {
        problems.push(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !is_dns1123_label_shape(name) {
        problems.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
             '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_string(),
        );
    }
    problems
}

/// Upstream's `path.IsValidPathSegmentName`.
fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    let mut problems = Vec::new();
    for bad in ["/", "%"] {
        if name.contains(bad) {
            problems.push(format!("may not contain '{bad}'"));
        }
    }
    problems
}

/// Characters upstream's `SimpleNameGenerator` draws from (no vowels, no look-alikes).
const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const GENERATE_SUFFIX_LEN: usize = 5;
/// Upstream trims the prefix so the result stays within 63 characters.
const GENERATE_PREFIX_MAX: usize = 63 - GENERATE_SUFFIX_LEN;

/// `generateName` + 5 random characters, as upstream's `SimpleNameGenerator`.
pub fn generate(prefix: &str) -> String {
    let mut base: String = prefix.to_string();
    if base.len() > GENERATE_PREFIX_MAX {
        let mut cut = GENERATE_PREFIX_MAX;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    let mut rng = rand::rng();
    for _ in 0..GENERATE_SUFFIX_LEN {
        let index = rng.random_range(0..GENERATE_ALPHABET.len());
        base.push(char::from(GENERATE_ALPHABET[index]));
    }
    base
}

/// A random (version 4) UUID in its canonical text form.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert!(
            validate(
                NameRule::Dns1123Subdomain,
                "node-1.example",
                "metadata.name"
            )
            .is_empty()
        );
        assert_eq!(
            validate(NameRule::Dns1123Subdomain, "Node_1", "metadata.name").len(),
            1
        );
        assert!(!validate(NameRule::Dns1123Subdomain, "-a", "metadata.name").is_empty());
        assert!(!validate(NameRule::Dns1123Subdomain, "a..b", "metadata.name").is_empty());
        let long = "a".repeat(254);
        assert!(!validate(NameRule::Dns1123Subdomain, &long, "metadata.name").is_empty());
    }

    #[test]
    fn labels_and_segments() {
        assert!(validate(NameRule::Dns1123Label, "kube-system", "metadata.name").is_empty());
        assert!(!validate(NameRule::Dns1123Label, "a.b", "metadata.name").is_empty());
        assert!(
            validate(
                NameRule::PathSegment,
                "system:node-bootstrapper",
                "metadata.name"
            )
            .is_empty()
        );
        assert!(!validate(NameRule::PathSegment, "a/b", "metadata.name").is_empty());
        assert!(!validate(NameRule::PathSegment, "..", "metadata.name").is_empty());
    }

    #[test]
    fn generated_names_use_the_upstream_alphabet() {
        let name = generate("csr-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("csr-"));
        assert!(name[4..].bytes().all(|b| GENERATE_ALPHABET.contains(&b)));
        assert_eq!(generate(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn uids_are_v4() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uid, new_uid());
    }
}
