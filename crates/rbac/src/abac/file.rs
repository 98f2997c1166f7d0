//! The ABAC policy file as upstream reads it (`abac.NewFromFile` and `pkg/apis/abac`): one JSON
//! object per line, blank lines and `#` comment lines skipped. A line is either a versioned
//! `abac.authorization.kubernetes.io/v1beta1` `Policy` with a `spec`, or the unversioned v0
//! form with the fields at the top; both are converted to [`AbacPolicy`] as upstream converts
//! them. As upstream, fields this format does not know are ignored and an empty file is valid;
//! stricter than upstream, a key given twice on a line is an error (Go's decoder keeps the last
//! one, which hides a mistake).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::AbacPolicy;
use crate::rule::ALL;
use crate::user::SYSTEM_AUTHENTICATED;

/// The versioned format's `apiVersion`.
pub const API_VERSION_V1BETA1: &str = "abac.authorization.kubernetes.io/v1beta1";
/// The unversioned format's `apiVersion`, should a line spell it out (upstream registers it).
pub const API_VERSION_V0: &str = "abac.authorization.kubernetes.io/v0";
/// The only `kind`.
pub const KIND_POLICY: &str = "Policy";

/// What a policy file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFile {
    pub policies: Vec<AbacPolicy>,
    /// Lines in the unversioned (v0) format, which upstream warns about at start-up.
    pub unversioned_lines: usize,
}

/// A line that is not a policy. Upstream's wording: the file, the line number, the line, why.
#[derive(Debug, thiserror::Error)]
#[error("error reading policy file {}, line {line}: {text}: {reason}", .path.display())]
pub struct PolicyFileError {
    pub path: PathBuf,
    /// 1-based, counting blank and comment lines.
    pub line: usize,
    /// The line without surrounding whitespace.
    pub text: String,
    #[source]
    pub reason: PolicyLineError,
}

/// Why one line is not a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyLineError {
    /// Something other than one JSON object (the derived decoders would take an array too).
    #[error("not a JSON object")]
    NotAnObject,
    /// Not JSON, or a field of the wrong type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A versioned line of a version or kind that does not exist.
    #[error(
        "unknown apiVersion {api_version:?} and kind {kind:?} (want apiVersion \
         {API_VERSION_V1BETA1:?} and kind {KIND_POLICY:?}, or neither for the unversioned format)"
    )]
    UnknownType { api_version: String, kind: String },
}

/// Parses the text of a policy file; `path` only names the file in errors.
pub fn parse_policy_file(text: &str, path: &Path) -> Result<PolicyFile, PolicyFileError> {
    let mut file = PolicyFile::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (policy, versioned) = parse_line(line).map_err(|reason| PolicyFileError {
            path: path.to_path_buf(),
            line: index + 1,
            text: line.to_string(),
            reason,
        })?;
        if !versioned {
            file.unversioned_lines += 1;
        }
        file.policies.push(policy);
    }
    Ok(file)
}

/// The policy of one line, and whether the line named both its apiVersion and kind.
fn parse_line(line: &str) -> Result<(AbacPolicy, bool), PolicyLineError> {
    if !line.starts_with('{') {
        return Err(PolicyLineError::NotAnObject);
    }
    let meta: TypeMeta = serde_json::from_str(line)?;
    let api_version = meta.api_version.unwrap_or_default();
    let kind = meta.kind.unwrap_or_default();
    let versioned = !api_version.is_empty() && !kind.is_empty();
    let policy = match (api_version.as_str(), kind.as_str()) {
        (API_VERSION_V1BETA1, KIND_POLICY) => {
            let policy: V1Beta1Policy = serde_json::from_str(line)?;
            policy.spec.unwrap_or_default().convert()
        }
        // Upstream decodes a line missing its apiVersion or kind as v0, filling in the other.
        ("" | API_VERSION_V0, "" | KIND_POLICY) => {
            let policy: V0Policy = serde_json::from_str(line)?;
            policy.convert()
        }
        _ => return Err(PolicyLineError::UnknownType { api_version, kind }),
    };
    Ok((policy, versioned))
}

/// Only what decides the format; every other field is read by the format's own type. `null`
/// counts as absent, as Go's decoder leaves a string zero on `null`.
#[derive(Deserialize)]
struct TypeMeta {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
}

#[derive(Deserialize)]
struct V1Beta1Policy {
    spec: Option<V1Beta1Spec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct V1Beta1Spec {
    user: Option<String>,
    group: Option<String>,
    readonly: Option<bool>,
    api_group: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    non_resource_path: Option<String>,
}

impl V1Beta1Spec {
    /// Upstream's v1beta1 conversion: fields as written, except that a `*` user or group
    /// means every authenticated user (so never anonymous requests).
    fn convert(self) -> AbacPolicy {
        let mut policy = AbacPolicy {
            user: self.user.unwrap_or_default(),
            group: self.group.unwrap_or_default(),
            readonly: self.readonly.unwrap_or_default(),
            api_group: self.api_group.unwrap_or_default(),
            resource: self.resource.unwrap_or_default(),
            namespace: self.namespace.unwrap_or_default(),
            non_resource_path: self.non_resource_path.unwrap_or_default(),
        };
        if policy.user == ALL || policy.group == ALL {
            policy.user.clear();
            policy.group = SYSTEM_AUTHENTICATED.to_string();
        }
        policy
    }
}

/// The unversioned format: no API group and no paths, empty meaning "any" for most fields.
#[derive(Deserialize)]
struct V0Policy {
    user: Option<String>,
    group: Option<String>,
    readonly: Option<bool>,
    resource: Option<String>,
    namespace: Option<String>,
}

impl V0Policy {
    /// Upstream's v0 conversion.
    fn convert(self) -> AbacPolicy {
        let user = self.user.unwrap_or_default();
        let group = self.group.unwrap_or_default();
        let resource = self.resource.unwrap_or_default();
        let namespace = self.namespace.unwrap_or_default();
        // No subject, or a `*` one, is every authenticated user.
        let (user, group) = if (user.is_empty() && group.is_empty()) || user == ALL || group == ALL
        {
            (String::new(), SYSTEM_AUTHENTICATED.to_string())
        } else {
            (user, group)
        };
        // Neither namespace nor resource: the paths too.
        let non_resource_path = if namespace.is_empty() && resource.is_empty() {
            ALL.to_string()
        } else {
            String::new()
        };
        AbacPolicy {
            user,
            group,
            readonly: self.readonly.unwrap_or_default(),
            // v0 predates API groups: every group.
            api_group: ALL.to_string(),
            resource: or_all(resource),
            namespace: or_all(namespace),
            non_resource_path,
        }
    }
}

fn or_all(value: String) -> String {
    if value.is_empty() {
        ALL.to_string()
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PolicyFile, PolicyFileError> {
        parse_policy_file(text, Path::new("/etc/kubernetes/abac.jsonl"))
    }

    fn one(line: &str) -> AbacPolicy {
        let file = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(file.policies.len(), 1, "{line}");
        file.policies.into_iter().next().expect("one policy")
    }

    fn policy(
        user: &str,
        group: &str,
        readonly: bool,
        [api_group, resource, namespace, path]: [&str; 4],
    ) -> AbacPolicy {
        AbacPolicy {
            user: user.into(),
            group: group.into(),
            readonly,
            api_group: api_group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            non_resource_path: path.into(),
        }
    }

    const AUTHENTICATED: &str = "system:authenticated";

    #[test]
    fn v1beta1_lines_keep_their_fields_but_a_wildcard_subject() {
        let cases = [
            (
                r#"{"user":"bob","group":"g","readonly":true,"apiGroup":"a","resource":"r","namespace":"n","nonResourcePath":"/p"}"#,
                policy("bob", "g", true, ["a", "r", "n", "/p"]),
            ),
            // Empty stays empty: it matches empty request values only.
            (
                r#"{"user":"bob"}"#,
                policy("bob", "", false, ["", "", "", ""]),
            ),
            (r#"{"group":"g"}"#, policy("", "g", false, ["", "", "", ""])),
            (
                r#"{"user":"*","resource":"pods"}"#,
                policy("", AUTHENTICATED, false, ["", "pods", "", ""]),
            ),
            (
                r#"{"group":"*"}"#,
                policy("", AUTHENTICATED, false, ["", "", "", ""]),
            ),
            // A `*` group replaces a named user too, as upstream.
            (
                r#"{"user":"bob","group":"*"}"#,
                policy("", AUTHENTICATED, false, ["", "", "", ""]),
            ),
        ];
        for (spec, expected) in cases {
            let line = format!(
                r#"{{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{spec}}}"#
            );
            assert_eq!(one(&line), expected, "{line}");
        }
        // No spec at all is an empty policy (one that matches nobody), as upstream decodes it.
        assert_eq!(
            one(r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy"}"#),
            AbacPolicy::default()
        );
    }

    #[test]
    fn v0_lines_are_converted_as_upstream() {
        let cases = [
            // No subject: every authenticated user. No namespace and no resource: paths too.
            (
                r#"{"readonly":true}"#,
                policy("", AUTHENTICATED, true, ["*", "*", "*", "*"]),
            ),
            (
                r#"{"user":"*","resource":"events"}"#,
                policy("", AUTHENTICATED, false, ["*", "events", "*", ""]),
            ),
            (
                r#"{"user":"bob","group":"*"}"#,
                policy("", AUTHENTICATED, false, ["*", "*", "*", "*"]),
            ),
            (
                r#"{"user":"scheduler","readonly":true,"resource":"pods"}"#,
                policy("scheduler", "", true, ["*", "pods", "*", ""]),
            ),
            (
                r#"{"group":"ops","namespace":"projectCaribou"}"#,
                policy("", "ops", false, ["*", "*", "projectCaribou", ""]),
            ),
            (
                r#"{"user":"a","group":"b","resource":"r","namespace":"n"}"#,
                policy("a", "b", false, ["*", "r", "n", ""]),
            ),
            // v0 has no apiGroup or nonResourcePath: ignored like any unknown field.
            (
                r#"{"user":"a","resource":"r","apiGroup":"x","nonResourcePath":"/p"}"#,
                policy("a", "", false, ["*", "r", "*", ""]),
            ),
            // The v0 type spelled out is v0 too, as is a kind without an apiVersion.
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v0","kind":"Policy","user":"a","resource":"r"}"#,
                policy("a", "", false, ["*", "r", "*", ""]),
            ),
            (
                r#"{"kind":"Policy","user":"a","resource":"r"}"#,
                policy("a", "", false, ["*", "r", "*", ""]),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(one(line), expected, "{line}");
        }
    }

    #[test]
    fn unversioned_lines_are_counted() {
        let file = parse(concat!(
            r#"{"user":"a"}"#,
            "\n",
            r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"b"}}"#,
            "\n",
            r#"{"kind":"Policy","user":"c"}"#,
            "\n",
            r#"{"apiVersion":"abac.authorization.kubernetes.io/v0","kind":"Policy","user":"d"}"#,
        ))
        .expect("parse");
        assert_eq!(file.policies.len(), 4);
        assert_eq!(file.unversioned_lines, 2);
    }

    #[test]
    fn comments_blank_lines_and_empty_files_are_fine() {
        assert_eq!(parse("").expect("empty"), PolicyFile::default());
        assert_eq!(
            parse("\n   \n# only comments\n\t# indented\n").expect("comments"),
            PolicyFile::default()
        );
        let file = parse(concat!(
            "# readers\r\n",
            "\r\n",
            "  {\"apiVersion\":\"abac.authorization.kubernetes.io/v1beta1\",\"kind\":\"Policy\",\"spec\":{\"user\":\"r\",\"readonly\":true}}  \r\n",
            "{\"user\":\"w\"}", // the last line needs no newline
        ))
        .expect("parse");
        assert_eq!(
            file.policies,
            vec![
                policy("r", "", true, ["", "", "", ""]),
                policy("w", "", false, ["*", "*", "*", "*"]),
            ]
        );
        // `null` is an absent value, as Go decodes it.
        assert_eq!(
            one(r#"{"user":"a","readonly":null,"resource":null}"#),
            policy("a", "", false, ["*", "*", "*", "*"])
        );
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let text =
            "# header\n\n{\"user\":\"ok\"}\n{\"user\": \"alice\"\n{\"user\":\"never read\"}\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, 4);
        assert_eq!(err.text, r#"{"user": "alice""#);
        assert!(matches!(err.reason, PolicyLineError::Json(_)));
        let message = err.to_string();
        assert!(
            message.starts_with(
                r#"error reading policy file /etc/kubernetes/abac.jsonl, line 4: {"user": "alice": "#
            ),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "not json",
            "[1, 2]",
            r#"["abac.authorization.kubernetes.io/v1beta1"]"#,
            "5",
        ] {
            let err = parse(line).unwrap_err();
            assert!(
                matches!(err.reason, PolicyLineError::NotAnObject),
                "{line}: {err}"
            );
            assert!(err.to_string().ends_with(": not a JSON object"), "{err}");
        }
        let cases = [
            ("{not json", "key must be a string"),
            ("{", "EOF while parsing an object"),
            (r#"{"user":"a"} trailing"#, "trailing characters"),
            (
                r#"{"user":5}"#,
                "invalid type: integer `5`, expected a string",
            ),
            (r#"{"user":"a","readonly":"true"}"#, "expected a boolean"),
            (r#"{"apiVersion":1}"#, "expected a string"),
            (r#"{"user":"a","user":"b"}"#, "duplicate field `user`"),
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":"x"}"#,
                "invalid type: string",
            ),
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"readonly":1}}"#,
                "expected a boolean",
            ),
        ];
        for (line, fragment) in cases {
            let err = parse(line).unwrap_err();
            assert_eq!(err.line, 1, "{line}");
            assert!(
                matches!(err.reason, PolicyLineError::Json(_)),
                "{line}: {err}"
            );
            assert!(err.to_string().contains(fragment), "{line}: {err}");
        }
    }

    #[test]
    fn unknown_versions_and_kinds_are_errors() {
        let cases = [
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1","kind":"Policy","spec":{"user":"a"}}"#,
                "abac.authorization.kubernetes.io/v1",
                "Policy",
            ),
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Rule","spec":{"user":"a"}}"#,
                "abac.authorization.kubernetes.io/v1beta1",
                "Rule",
            ),
            // A versioned line missing its kind (upstream cannot convert that either).
            (
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","spec":{"user":"a"}}"#,
                "abac.authorization.kubernetes.io/v1beta1",
                "",
            ),
            (r#"{"kind":"ClusterRole","user":"a"}"#, "", "ClusterRole"),
        ];
        for (line, api_version, kind) in cases {
            let err = parse(line).unwrap_err();
            match &err.reason {
                PolicyLineError::UnknownType {
                    api_version: found_version,
                    kind: found_kind,
                } => assert_eq!(
                    (found_version.as_str(), found_kind.as_str()),
                    (api_version, kind)
                ),
                other => panic!("{line}: {other}"),
            }
            assert!(
                err.to_string().contains(&format!(
                    "unknown apiVersion {api_version:?} and kind {kind:?} (want apiVersion \"abac.authorization.kubernetes.io/v1beta1\""
                )),
                "{err}"
            );
        }
    }
}
