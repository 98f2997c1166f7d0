//! `spec.signerName` syntax, as upstream's `ValidateSignerName`: `<domain>/<path>` where the
//! domain is two or more DNS-1123 labels and the path is dot-separated DNS-1123 subdomains.

use protocol::meta::StatusCause;

use super::causes;

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_FORMAT: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_FORMAT: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Every problem with `signer_name`, reported against `field`.
pub(crate) fn validate_signer_name(field: &str, signer_name: &str) -> Vec<StatusCause> {
    if signer_name.is_empty() {
        return vec![StatusCause::required(field, "")];
    }
    let segments: Vec<&str> = signer_name.split('/').collect();
    let [domain, path] = segments.as_slice() else {
        return vec![StatusCause::invalid_value(
            field,
            signer_name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    };
    let mut causes = Vec::new();
    if domain.len() > DNS1123_SUBDOMAIN_MAX {
        causes.push(causes::too_long(field, DNS1123_SUBDOMAIN_MAX));
    }
    let domain_labels: Vec<&str> = domain.split('.').collect();
    // Only the first bad label is reported: later ones would repeat the same message.
    if let Some((label, errors)) = domain_labels
        .iter()
        .map(|label| (label, dns1123_label_errors(label)))
        .find(|(_, errors)| !errors.is_empty())
    {
        for error in errors {
            causes.push(StatusCause::invalid_value(
                field,
                domain,
                &format!("validating label {label:?}: {error}"),
            ));
        }
    }
    if domain_labels.len() < 2 {
        causes.push(StatusCause::invalid_value(
            field,
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if let Some((component, errors)) = path
        .split('.')
        .map(|component| (component, dns1123_subdomain_errors(component)))
        .find(|(_, errors)| !errors.is_empty())
    {
        for error in errors {
            causes.push(StatusCause::invalid_value(
                field,
                path,
                &format!("validating component {component:?}: {error}"),
            ));
        }
    }
    // Room for one more `.label` so a full signer name still fits a metadata.name.
    let max_path = DNS1123_SUBDOMAIN_MAX + DNS1123_LABEL_MAX + 1;
    if path.len() > max_path {
        causes.push(causes::too_long(field, max_path));
    }
    causes
}

fn is_alphanumeric(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label_shaped(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            is_alphanumeric(first)
                && is_alphanumeric(last)
                && bytes.iter().all(|&c| is_alphanumeric(c) || c == b'-')
        }
        _ => false,
    }
}

fn dns1123_label_errors(label: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if label.len() > DNS1123_LABEL_MAX {
        errors.push(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !is_label_shaped(label) {
        errors.push(LABEL_FORMAT.to_string());
    }
    errors
}

fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errors.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !value.split('.').all(is_label_shaped) {
        errors.push(SUBDOMAIN_FORMAT.to_string());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "spec.signerName";

    fn messages(signer_name: &str) -> Vec<String> {
        validate_signer_name(FIELD, signer_name)
            .into_iter()
            .map(|c| c.message)
            .collect()
    }

    #[test]
    fn well_known_and_custom_names_pass() {
        for name in [
            "kubernetes.io/kube-apiserver-client-kubelet",
            "kubernetes.io/kubelet-serving",
            "example.com/my-signer",
            "a.b.example.com/path.with.dots",
        ] {
            assert!(messages(name).is_empty(), "{name}: {:?}", messages(name));
        }
    }

    #[test]
    fn empty_name_is_required() {
        let causes = validate_signer_name(FIELD, "");
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].reason, "FieldValueRequired");
        assert_eq!(causes[0].field, FIELD);
    }

    #[test]
    fn name_needs_exactly_one_slash() {
        for name in ["kubernetes.io", "a.io/b/c"] {
            assert_eq!(
                messages(name),
                vec![format!(
                    "Invalid value: {name:?}: must be a fully qualified domain and path of the form 'example.com/signer-name'"
                )]
            );
        }
    }

    #[test]
    fn single_label_domain_is_rejected() {
        assert_eq!(
            messages("localhost/signer"),
            vec![
                "Invalid value: \"localhost\": should be a domain with at least two segments separated by dots"
            ]
        );
    }

    #[test]
    fn bad_label_reports_only_the_first_one() {
        let got = messages("Bad.UPPER.io/x");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with(
            "Invalid value: \"Bad.UPPER.io\": validating label \"Bad\": a lowercase RFC 1123 label"
        ));
    }

    #[test]
    fn bad_path_component_is_rejected() {
        let got = messages("example.com/under_score");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("validating component \"under_score\""),
            "{got:?}"
        );
    }

    #[test]
    fn overlong_parts_are_too_long() {
        let long_domain = format!("{}.io/x", "a.".repeat(130));
        let causes = validate_signer_name(FIELD, &long_domain);
        assert!(
            causes.iter().any(|c| c.reason == "FieldValueTooLong"),
            "{causes:?}"
        );
        let long_path = format!("example.com/{}", "a.".repeat(200) + "a");
        let causes = validate_signer_name(FIELD, &long_path);
        assert!(
            causes.iter().any(|c| c.reason == "FieldValueTooLong"),
            "{causes:?}"
        );
    }
}
