//! Query parameters of reads and watches (`metav1.ListOptions`), and the `continue` token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN_BASE64;
use protocol::meta::Status;
use serde::{Deserialize, Serialize};

use super::selectors::{FieldSelector, LabelSelector};

/// Default watch length when the client gives no `timeoutSeconds` (upstream: 30-60 minutes with
/// jitter; shorter here so idle watchers recycle, clients re-watch transparently).
pub const DEFAULT_WATCH_SECONDS: u64 = 300;

/// The parsed query of a list, watch or get.
#[derive(Debug, Default)]
pub struct ListOptions {
    pub field_selector: FieldSelector,
    pub label_selector: LabelSelector,
    /// `0` means no limit.
    pub limit: usize,
    pub continue_from: Option<ContinueToken>,
    /// `resourceVersion` as sent (`""`, `"0"` or a number).
    pub resource_version: Option<u64>,
    pub watch: bool,
    pub allow_watch_bookmarks: bool,
    pub timeout_seconds: Option<u64>,
    pub include_object: Option<String>,
}

/// Where the next page starts: after `(namespace, name)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// The revision of the first page (reported back on every page).
    pub rv: u64,
    pub namespace: String,
    pub name: String,
}

impl ContinueToken {
    /// The opaque form handed to clients: URL-safe base64 of a small JSON document.
    pub fn encode(&self) -> String {
        TOKEN_BASE64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Result<ContinueToken, Status> {
        let invalid = || Status::bad_request(format!("continue key is not valid: {text:?}"));
        let bytes = TOKEN_BASE64.decode(text).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// Parses the query for resource `plural`; bad values are a 400.
pub fn parse(query: Option<&str>, plural: &str) -> Result<ListOptions, Status> {
    let mut options = ListOptions::default();
    let Some(query) = query else {
        return Ok(options);
    };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "fieldSelector" => options.field_selector = FieldSelector::parse(&value, plural)?,
            "labelSelector" => options.label_selector = LabelSelector::parse(&value)?,
            "limit" => options.limit = parse_number::<usize>("limit", &value)?,
            "continue" if !value.is_empty() => {
                options.continue_from = Some(ContinueToken::decode(&value)?);
            }
            "resourceVersion" if !value.is_empty() => {
                options.resource_version = Some(parse_number("resourceVersion", &value)?);
            }
            "watch" => options.watch = parse_bool(&value),
            "allowWatchBookmarks" => options.allow_watch_bookmarks = parse_bool(&value),
            "timeoutSeconds" => {
                options.timeout_seconds = Some(parse_number("timeoutSeconds", &value)?);
            }
            "includeObject" => options.include_object = Some(value.into_owned()),
            // resourceVersionMatch, fieldManager, fieldValidation, timeout, pretty, ...:
            // accepted; reads are always served from the latest state.
            _ => {}
        }
    }
    Ok(options)
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, Status> {
    value
        .trim()
        .parse()
        .map_err(|_| Status::bad_request(format!("invalid value for {name}: {value:?}")))
}

fn parse_bool(value: &str) -> bool {
    matches!(value, "true" | "1" | "True" | "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_queries() {
        let o = parse(Some("limit=500"), "certificatesigningrequests").unwrap();
        assert_eq!(o.limit, 500);
        let o = parse(
            Some("watch=true&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=7"),
            "nodes",
        )
        .unwrap();
        assert!(o.watch && o.allow_watch_bookmarks);
        assert_eq!((o.resource_version, o.timeout_seconds), (Some(42), Some(7)));
        let o = parse(
            Some("fieldSelector=metadata.name%3Dcsr-1&resourceVersion=0"),
            "certificatesigningrequests",
        )
        .unwrap();
        assert_eq!(o.field_selector.single_name(), Some("csr-1"));
        assert_eq!(o.resource_version, Some(0));
    }

    #[test]
    fn bad_values_are_bad_requests() {
        assert_eq!(
            parse(Some("limit=many"), "nodes").unwrap_err().http_code(),
            400
        );
        assert_eq!(
            parse(Some("continue=%%%"), "nodes")
                .unwrap_err()
                .http_code(),
            400
        );
        assert_eq!(
            parse(Some("resourceVersion=x"), "nodes")
                .unwrap_err()
                .http_code(),
            400
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        let token = ContinueToken {
            rv: 9,
            namespace: "ns".into(),
            name: "a".into(),
        };
        assert_eq!(ContinueToken::decode(&token.encode()).unwrap(), token);
    }
}
