//! YAML in and out. Reading uses `serde_yaml_ng`; writing uses the small emitter below,
//! because every serde YAML crate emits YAML 1.2 plain scalars (`yes`, `on`, `n`, ...)
//! that kubectl, reading YAML 1.1 through go-yaml, takes for booleans and then rejects
//! (see docs/decisions/0003-yaml.md). This is the only module that touches the YAML crate.

use std::fmt::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A parse failure with the position the parser reported, if any (1-based).
pub(crate) struct YamlFault {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlFault> {
    serde_yaml_ng::from_str(text).map_err(|err| {
        let location = err.location();
        let mut message = err.to_string();
        // The crate appends the position we report separately; say it once.
        if let Some(l) = &location {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        YamlFault {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// Block-style YAML in kubectl's layout (maps indented by two, sequence items at the
/// indentation of their key), with every string that YAML 1.1 or 1.2 could read as
/// anything but that string written double-quoted.
pub(crate) fn emit<T: Serialize>(value: &T) -> Result<String, String> {
    let value = serde_json::to_value(value).map_err(|err| err.to_string())?;
    let mut out = String::new();
    match &value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        other => {
            write_inline(&mut out, other);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Writes `key: value` lines for `map` at `indent`. The caller has already written the
/// first line's indentation (or the `- ` of a sequence item).
fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            push_indent(out, indent);
        }
        write_string(out, key);
        out.push(':');
        write_value_after_key(out, value, indent);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            push_indent(out, indent + 2);
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            push_indent(out, indent);
            write_seq(out, items, indent);
        }
        scalar => {
            out.push(' ');
            write_inline(out, scalar);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, indent + 2),
            scalar => {
                write_inline(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// Scalars and empty collections.
fn write_inline(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        // A JSON string literal is a valid YAML double-quoted scalar with the same value.
        out.push_str(&Value::String(s.to_owned()).to_string());
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Whether `s` can be written unquoted and be read back as the same string by both
/// YAML 1.1 (go-yaml v2, kubectl) and YAML 1.2 readers. Deliberately conservative:
/// anything unusual is quoted, which is always correct.
fn is_plain_safe(s: &str) -> bool {
    const YAML11_WORDS: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '/' || first == '_') {
        return false;
    }
    if first.is_ascii_digit() && may_resolve_to_number_or_time(s) {
        return false;
    }
    if s.ends_with(':') || YAML11_WORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    s.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '+' | '=')
    })
}

/// For a string starting with a digit: could go-yaml (Go's `ParseInt(s, 0, 64)` and
/// `ParseFloat`, sexagesimal and timestamp forms) or a YAML 1.2 reader see a number or a
/// date in it? Bootstrap tokens such as `07401b.f395accd246ae52d` are not, and kubectl
/// writes them plain, so we do too.
fn may_resolve_to_number_or_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let without_underscores = lower.replace('_', "");
    let radix_prefixed = ["0x", "0o", "0b"].iter().any(|p| lower.starts_with(p));
    let decimal_or_float = without_underscores.parse::<f64>().is_ok();
    let time_or_sexagesimal = (s.contains(':') || s.contains('-'))
        && s.chars().all(|c| {
            c.is_ascii_digit() || matches!(c, '-' | ':' | '.' | 'T' | 't' | 'Z' | 'z' | '+' | '_')
        });
    radix_prefixed || decimal_or_float || time_or_sexagesimal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lays_out_like_kubectl() {
        let value = json!({
            "apiVersion": "v1",
            "clusters": [{"cluster": {"server": "https://127.0.0.1:6443"}, "name": "bootstrap"}],
            "contexts": [],
            "current-context": "",
            "preferences": {},
            "nested": {"list": [["a", 1], {"k": true}], "n": null},
        });
        let expected = "\
apiVersion: v1
clusters:
- cluster:
    server: https://127.0.0.1:6443
  name: bootstrap
contexts: []
current-context: \"\"
nested:
  list:
  - - a
    - 1
  - k: true
  \"n\": null
preferences: {}
";
        assert_eq!(emit(&value).unwrap(), expected);
    }

    #[test]
    fn quotes_what_yaml_1_1_would_misread() {
        for word in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "null",
            "~",
            "012",
            "1e3",
            "-",
            "- x",
            ".inf",
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "190:20:30",
            "0x1F",
            "0b101",
            "1_000",
            "6.8523015e+5",
            "1.",
            "0o17",
            "+1",
            "-a",
            "a: b",
            "a #b",
            "x:",
            "",
            " lead",
            "multi\nline",
            "'q'",
        ] {
            let yaml = emit(&json!({ "k": word })).unwrap();
            assert!(yaml.starts_with("k: \""), "{word:?} written as {yaml:?}");
            let back: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(back["k"], word, "{word:?} did not survive");
        }
        for word in [
            "bootstrap",
            "https://x:6443/p",
            "LS0tLS1CRU+/=",
            "system:node:n1",
            "a.b-c_d@e",
            "07401b.f395accd246ae52d",
            "1a",
            "3rd",
        ] {
            assert_eq!(emit(&json!({ "k": word })).unwrap(), format!("k: {word}\n"));
        }
    }

    #[test]
    fn parse_reports_the_position_once() {
        let fault = parse::<serde_json::Value>("a: b\n c: d\n").err().unwrap();
        assert_eq!(fault.line, Some(2));
        assert!(fault.column.is_some());
        assert!(!fault.message.contains("at line 2"), "{}", fault.message);
    }
}
