//! `--feature-gates`, as component-base's `featuregate` parses it: a comma list of
//! `Name=bool`, repeatable, checked against the gates this build knows. Upstream registers
//! one list for every component, so the apiserver, the controller-manager and the kubelet
//! accept the same names; each acts only on the gates that concern it.

use std::collections::BTreeMap;
use std::fmt;

use crate::parse_go_bool;

/// How far a feature has come; it decides the defaults and the warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Alpha,
    Beta,
    /// Always on: setting it to its default only warns, setting it otherwise is an error.
    Ga,
}

/// One gate this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub default: bool,
    pub stage: Stage,
}

/// Enables the rotation (and the bootstrap) of the kubelet's serving certificate; with it
/// off, `--rotate-server-certificates` falls back to a self-signed certificate.
pub const ROTATE_KUBELET_SERVER_CERTIFICATE: &str = "RotateKubeletServerCertificate";
/// The kubelet's client certificate rotation. GA since 1.19: always on.
pub const ROTATE_KUBELET_CLIENT_CERTIFICATE: &str = "RotateKubeletClientCertificate";

/// The gates of this build, in upstream's stages. `RotateKubeletClientCertificate` left
/// upstream's list after 1.21; it stays here locked on, so the seeds' instructions that set
/// it to true keep working (decision 0017).
pub const KNOWN: &[Feature] = &[
    Feature {
        name: ROTATE_KUBELET_CLIENT_CERTIFICATE,
        default: true,
        stage: Stage::Ga,
    },
    Feature {
        name: ROTATE_KUBELET_SERVER_CERTIFICATE,
        default: true,
        stage: Stage::Beta,
    },
];

/// The special keys that set every alpha or every beta gate at once.
const ALL_ALPHA: &str = "AllAlpha";
const ALL_BETA: &str = "AllBeta";

/// One `--feature-gates` value, as written (`clap` parses each occurrence into one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGateFlag(pub Vec<(String, bool)>);

/// Why a `--feature-gates` value was refused; the words are component-base's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureGateError {
    #[error("missing bool value for {0}")]
    MissingValue(String),
    #[error("invalid value of {name}={value}, err: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("unrecognized feature gate: {0}")]
    Unrecognized(String),
    #[error("cannot set feature gate {name} to {value}, feature is locked to {locked}")]
    Locked {
        name: String,
        value: bool,
        locked: bool,
    },
}

/// `clap` value parser for one `--feature-gates` occurrence. Unknown names are refused here,
/// so the error names the flag.
pub fn parse_feature_gates(value: &str) -> Result<FeatureGateFlag, FeatureGateError> {
    let mut settings = Vec::new();
    for part in value.split(',') {
        if part.is_empty() {
            continue;
        }
        let Some((name, raw)) = part.split_once('=') else {
            return Err(FeatureGateError::MissingValue(part.trim().to_string()));
        };
        let (name, raw) = (name.trim(), raw.trim());
        let enabled = parse_go_bool(raw).map_err(|reason| FeatureGateError::InvalidValue {
            name: name.to_string(),
            value: raw.to_string(),
            reason,
        })?;
        if name != ALL_ALPHA && name != ALL_BETA {
            let feature = known(name).ok_or_else(|| FeatureGateError::Unrecognized(name.into()))?;
            if feature.stage == Stage::Ga && enabled != feature.default {
                return Err(FeatureGateError::Locked {
                    name: name.to_string(),
                    value: enabled,
                    locked: feature.default,
                });
            }
        }
        settings.push((name.to_string(), enabled));
    }
    Ok(FeatureGateFlag(settings))
}

fn known(name: &str) -> Option<&'static Feature> {
    KNOWN.iter().find(|f| f.name == name)
}

/// The gates in effect: the defaults, then `AllAlpha`/`AllBeta`, then each named gate (a
/// later occurrence wins, as with repeated flags upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGates {
    enabled: BTreeMap<&'static str, bool>,
    /// Set explicitly, in order: what the start-up log reports.
    explicit: Vec<(String, bool)>,
}

impl Default for FeatureGates {
    fn default() -> Self {
        FeatureGates::from_flags(&[])
    }
}

impl FeatureGates {
    /// Combines the occurrences of `--feature-gates`, already checked by
    /// [`parse_feature_gates`].
    pub fn from_flags(flags: &[FeatureGateFlag]) -> FeatureGates {
        let mut enabled: BTreeMap<&'static str, bool> =
            KNOWN.iter().map(|f| (f.name, f.default)).collect();
        let explicit: Vec<(String, bool)> = flags.iter().flat_map(|f| f.0.clone()).collect();
        let last = |key: &str| explicit.iter().rev().find(|(n, _)| n == key).map(|s| s.1);
        for (stage, key) in [(Stage::Alpha, ALL_ALPHA), (Stage::Beta, ALL_BETA)] {
            if let Some(value) = last(key) {
                for feature in KNOWN.iter().filter(|f| f.stage == stage) {
                    enabled.insert(feature.name, value);
                }
            }
        }
        for feature in KNOWN {
            if let Some(value) = last(feature.name) {
                enabled.insert(feature.name, value);
            }
        }
        FeatureGates { enabled, explicit }
    }

    /// Whether `name` is on; a name this build does not know is off.
    pub fn enabled(&self, name: &str) -> bool {
        self.enabled.get(name).copied().unwrap_or(false)
    }

    /// component-base's start-up warnings: setting a GA gate (it will go away).
    pub fn warnings(&self) -> Vec<String> {
        self.explicit
            .iter()
            .filter(|(name, _)| known(name).is_some_and(|f| f.stage == Stage::Ga))
            .map(|(name, value)| {
                format!(
                    "Setting GA feature gate {name}={value}. It will be removed in a future release."
                )
            })
            .collect()
    }
}

impl fmt::Display for FeatureGates {
    /// `Name=bool,...` of every known gate, as the start-up log prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in &self.enabled {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(values: &[&str]) -> Result<FeatureGates, FeatureGateError> {
        let flags = values
            .iter()
            .map(|v| parse_feature_gates(v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeatureGates::from_flags(&flags))
    }

    #[test]
    fn defaults_are_upstream_stages() {
        let g = FeatureGates::default();
        assert!(g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(g.enabled(ROTATE_KUBELET_CLIENT_CERTIFICATE));
        assert!(!g.enabled("NoSuchGate"));
        assert!(g.warnings().is_empty());
        assert_eq!(
            g.to_string(),
            "RotateKubeletClientCertificate=true,RotateKubeletServerCertificate=true"
        );
    }

    #[test]
    fn the_seeds_settings_are_accepted() {
        // The kubelet line and the controller-manager line of the seeds' documents.
        let g = gates(&["RotateKubeletClientCertificate=true,RotateKubeletServerCertificate=true"])
            .unwrap();
        assert!(g.enabled(ROTATE_KUBELET_CLIENT_CERTIFICATE));
        assert!(g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert_eq!(
            g.warnings(),
            vec![
                "Setting GA feature gate RotateKubeletClientCertificate=true. It will be removed in a future release."
            ]
        );
        let g = gates(&["RotateKubeletServerCertificate=true"]).unwrap();
        assert!(g.warnings().is_empty());
    }

    #[test]
    fn spaces_empty_entries_go_booleans_and_later_values_win() {
        let g = gates(&[" RotateKubeletServerCertificate = false ,,"]).unwrap();
        assert!(!g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(
            g.warnings().is_empty(),
            "upstream warns about GA gates only"
        );
        let g = gates(&[
            "RotateKubeletServerCertificate=0",
            "RotateKubeletServerCertificate=T",
        ])
        .unwrap();
        assert!(g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(
            gates(&[""])
                .unwrap()
                .enabled(ROTATE_KUBELET_SERVER_CERTIFICATE)
        );
    }

    #[test]
    fn all_beta_sets_every_beta_gate_and_named_gates_win_over_it() {
        let g = gates(&["AllBeta=false"]).unwrap();
        assert!(!g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(
            g.enabled(ROTATE_KUBELET_CLIENT_CERTIFICATE),
            "GA is not beta"
        );
        let g = gates(&["RotateKubeletServerCertificate=true,AllBeta=false"]).unwrap();
        assert!(g.enabled(ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(gates(&["AllAlpha=true"]).is_ok());
    }

    #[test]
    fn bad_values_are_refused_in_component_base_words() {
        let err = |v: &str| parse_feature_gates(v).unwrap_err().to_string();
        assert_eq!(err("Foo=true"), "unrecognized feature gate: Foo");
        assert_eq!(
            err("RotateKubeletServerCertificate"),
            "missing bool value for RotateKubeletServerCertificate"
        );
        assert!(
            err("RotateKubeletServerCertificate=maybe")
                .starts_with("invalid value of RotateKubeletServerCertificate=maybe, err: ")
        );
        assert_eq!(
            err("RotateKubeletClientCertificate=false"),
            "cannot set feature gate RotateKubeletClientCertificate to false, feature is locked to true"
        );
        // Names are case-sensitive, as upstream's.
        assert_eq!(
            err("rotatekubeletservercertificate=true"),
            "unrecognized feature gate: rotatekubeletservercertificate"
        );
    }
}
