//! The only module that touches the YAML crate (see docs/decisions/0003-yaml.md), so that
//! swapping it is a one-file change.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A parse failure with the position the parser reported, if any (1-based).
pub(crate) struct YamlFault {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlFault> {
    serde_yaml_ng::from_str(text).map_err(|err| {
        let location = err.location();
        YamlFault {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: err.to_string(),
        }
    })
}

pub(crate) fn emit<T: Serialize>(value: &T) -> Result<String, String> {
    serde_yaml_ng::to_string(value).map_err(|err| err.to_string())
}
