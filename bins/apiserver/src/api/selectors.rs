//! `fieldSelector` and `labelSelector` as upstream parses and matches them.

use protocol::meta::Status;
use serde_json::Value;

/// `=`/`==` or `!=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Equality {
    Equals,
    NotEquals,
}

/// A parsed `fieldSelector`: requirements ANDed together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<(String, Equality, String)>,
}

/// Fields every kind supports.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Fields a kind supports beyond the common ones (upstream's `GetAttrs` of each registry).
fn extra_fields(plural: &str) -> &'static [&'static str] {
    match plural {
        "certificatesigningrequests" => &["spec.signerName"],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["type"],
        "nodes" => &["spec.unschedulable"],
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "namespaces" => &["status.phase"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses `a=b,c!=d` for the resource `plural`; unknown fields are a 400 as upstream.
    pub fn parse(text: &str, plural: &str) -> Result<FieldSelector, Status> {
        let mut requirements = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, op, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, Equality::NotEquals, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, Equality::Equals, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, Equality::Equals, v)
            } else {
                return Err(Status::bad_request(format!(
                    "invalid field selector: {term:?}: no operator (=, ==, !=) found"
                )));
            };
            let field = field.trim();
            if !COMMON_FIELDS.contains(&field) && !extra_fields(plural).contains(&field) {
                return Err(Status::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            requirements.push((field.to_string(), op, value.trim().to_string()));
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `object` satisfies every requirement (absent fields read as `""`).
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|(field, op, wanted)| {
            let actual = field_value(object, field);
            (actual == *wanted) == (*op == Equality::Equals)
        })
    }

    /// The name when the selector is exactly `metadata.name=<x>` (a point read suffices).
    pub fn single_name(&self) -> Option<&str> {
        match self.requirements.as_slice() {
            [(field, Equality::Equals, name)] if field == "metadata.name" => Some(name),
            _ => None,
        }
    }
}

/// Selectable fields that are booleans (`false` when absent).
const BOOLEAN_FIELDS: &[&str] = &["spec.unschedulable", "spec.hostNetwork"];

/// The text form of a field as upstream's field sets hold it.
fn field_value(object: &Value, path: &str) -> String {
    if path == "source" {
        // Events: `source` is `source.component`.
        return field_value(object, "source.component");
    }
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            // Upstream formats these Go bools whether set or not; we omit `false` when stored.
            None if BOOLEAN_FIELDS.contains(&path) => return "false".to_string(),
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// One `labelSelector` requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `labelSelector`: requirements ANDed together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(text: &str) -> Result<LabelSelector, Status> {
        let invalid = |detail: &str| {
            Status::bad_request(format!(
                "unable to parse requirement: {detail} in label selector {text:?}"
            ))
        };
        let mut requirements = Vec::new();
        for term in split_outside_parens(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let requirement = if let Some(key) = term.strip_prefix('!') {
                LabelRequirement::DoesNotExist(checked_key(key.trim(), &invalid)?)
            } else if let Some((key, values)) = split_set_op(term, " notin ") {
                LabelRequirement::NotIn(checked_key(key, &invalid)?, parse_set(values, &invalid)?)
            } else if let Some((key, values)) = split_set_op(term, " in ") {
                LabelRequirement::In(checked_key(key, &invalid)?, parse_set(values, &invalid)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                LabelRequirement::NotEquals(checked_key(key, &invalid)?, value.trim().to_string())
            } else if let Some((key, value)) = term.split_once("==") {
                LabelRequirement::Equals(checked_key(key, &invalid)?, value.trim().to_string())
            } else if let Some((key, value)) = term.split_once('=') {
                LabelRequirement::Equals(checked_key(key, &invalid)?, value.trim().to_string())
            } else {
                LabelRequirement::Exists(checked_key(term, &invalid)?)
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
                LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
                LabelRequirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
                LabelRequirement::NotIn(k, vs) => {
                    label(k).is_none_or(|l| vs.iter().all(|v| v != l))
                }
                LabelRequirement::Exists(k) => label(k).is_some(),
                LabelRequirement::DoesNotExist(k) => label(k).is_none(),
            })
    }
}

/// Splits on commas that are not inside `( ... )`.
fn split_outside_parens(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `key in (...)` split at the operator, accepting any whitespace before the parenthesis.
fn split_set_op<'a>(term: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let (key, rest) = term.split_once(op)?;
    let rest = rest.trim();
    rest.starts_with('(').then_some((key.trim(), rest))
}

fn parse_set(values: &str, invalid: &dyn Fn(&str) -> Status) -> Result<Vec<String>, Status> {
    let inner = values
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| invalid("expected a parenthesised set of values"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn checked_key(key: &str, invalid: &dyn Fn(&str) -> Status) -> Result<String, Status> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_string())
    } else {
        Err(invalid(&format!("invalid label key {key:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_selectors() {
        let csr = json!({"metadata": {"name": "a"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}});
        let sel = FieldSelector::parse(
            "spec.signerName=kubernetes.io/kubelet-serving",
            "certificatesigningrequests",
        )
        .unwrap();
        assert!(sel.matches(&csr));
        let sel = FieldSelector::parse("metadata.name!=a", "certificatesigningrequests").unwrap();
        assert!(!sel.matches(&csr));
        let sel = FieldSelector::parse(
            "metadata.name==a,metadata.namespace=",
            "certificatesigningrequests",
        )
        .unwrap();
        assert!(sel.matches(&csr));
        assert_eq!(
            FieldSelector::parse("metadata.name=a", "nodes")
                .unwrap()
                .single_name(),
            Some("a")
        );
        let err = FieldSelector::parse("spec.signerName=x", "nodes").unwrap_err();
        assert_eq!(err.http_code(), 400);
        assert!(FieldSelector::parse("metadata.name", "nodes").is_err());
    }

    #[test]
    fn event_involved_object_selector_as_kubectl_describe_sends_it() {
        let event = json!({"involvedObject": {"kind": "CertificateSigningRequest", "name": "csr-1"}, "source": {"component": "x"}});
        let sel = FieldSelector::parse(
            "involvedObject.name=csr-1,involvedObject.namespace=,involvedObject.kind=CertificateSigningRequest",
            "events",
        )
        .unwrap();
        assert!(sel.matches(&event));
        assert!(
            FieldSelector::parse("source=x", "events")
                .unwrap()
                .matches(&event)
        );
    }

    #[test]
    fn pod_selector_as_kubectl_describe_node_sends_it() {
        let sel = FieldSelector::parse(
            "spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed",
            "pods",
        )
        .unwrap();
        assert!(
            sel.matches(&json!({"spec": {"nodeName": "node-1"}, "status": {"phase": "Pending"}}))
        );
        assert!(
            !sel.matches(&json!({"spec": {"nodeName": "node-1"}, "status": {"phase": "Failed"}}))
        );
        assert!(
            !sel.matches(&json!({"spec": {"nodeName": "node-2"}, "status": {"phase": "Running"}}))
        );
        // Booleans read as "false" when left out, as upstream formats them.
        let host = FieldSelector::parse("spec.hostNetwork=false", "pods").unwrap();
        assert!(host.matches(&json!({"spec": {}})));
        assert!(!host.matches(&json!({"spec": {"hostNetwork": true}})));
        let unschedulable = FieldSelector::parse("spec.unschedulable=false", "nodes").unwrap();
        assert!(unschedulable.matches(&json!({"metadata": {"name": "n"}})));
    }

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        let yes = [
            "app=web",
            "app==web",
            "app!=db",
            "app in (web, db)",
            "app notin (db)",
            "tier",
            "!missing",
            "app=web,tier=front",
            "missing notin (x)",
        ];
        for text in yes {
            assert!(LabelSelector::parse(text).unwrap().matches(&obj), "{text}");
        }
        let no = [
            "app=db",
            "app in (db)",
            "app notin (web)",
            "missing",
            "!tier",
            "missing in (x)",
        ];
        for text in no {
            assert!(!LabelSelector::parse(text).unwrap().matches(&obj), "{text}");
        }
        assert!(LabelSelector::parse("a in b").is_err());
        assert_eq!(LabelSelector::parse("a b=c").unwrap_err().http_code(), 400);
    }
}
