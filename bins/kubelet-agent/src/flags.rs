//! Command-line flags, named as the kubelet names them, and their validation into a
//! [`Config`]: every bad value is a start-up error of one line.

pub use cli::LogFormat;
use cli::{FeatureGateFlag, FeatureGates, parse_feature_gates, parse_go_bool};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use client::delegated::CacheTtls;

use crate::auth::AuthorizationMode;

/// The raw flags.
#[derive(Debug, Parser)]
#[command(
    name = "kubelet-agent",
    version,
    about = "Kubelet-compatible node agent: TLS bootstrap, certificate rotation, node heartbeats"
)]
pub struct Args {
    /// Path to a kubeconfig file specifying how to connect to the API server. Written after
    /// bootstrapping when --bootstrap-kubeconfig is used. An expired certificate in it is
    /// first offered to the apiserver for renewal (within its offline window).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: PathBuf,

    /// Path to a kubeconfig file used to get a client certificate for the kubelet when
    /// --kubeconfig does not exist or holds no valid certificate the apiserver renews.
    #[arg(long, value_name = "FILE")]
    pub bootstrap_kubeconfig: Option<PathBuf>,

    /// DEPRECATED: use --bootstrap-kubeconfig (its name before Kubernetes 1.9, still found
    /// in older guides).
    #[arg(long, value_name = "FILE", hide = true)]
    pub experimental_bootstrap_kubeconfig: Option<PathBuf>,

    /// A set of key=value pairs that describe feature gates, e.g.
    /// RotateKubeletServerCertificate=true. Known gates: RotateKubeletClientCertificate=true|false
    /// (GA - default=true, locked), RotateKubeletServerCertificate=true|false (BETA -
    /// default=true); AllAlpha and AllBeta set every alpha or beta gate.
    #[arg(long, value_name = "NAME=BOOL,...", value_parser = parse_feature_gates,
          action = ArgAction::Append)]
    pub feature_gates: Vec<FeatureGateFlag>,

    /// The directory where the TLS certs are located.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kubelet/pki")]
    pub cert_dir: PathBuf,

    /// Auto rotate the kubelet client certificates by requesting new certificates from the
    /// API server as the current one approaches expiration.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub rotate_certificates: bool,

    /// Request a serving certificate (signer kubernetes.io/kubelet-serving) from the API
    /// server and rotate it; without it (or with the RotateKubeletServerCertificate feature
    /// gate off) a self-signed kubelet.crt is served.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub rotate_server_certificates: bool,

    /// If non-empty, use this string as identification instead of the actual hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,

    /// Comma-separated IP addresses of the node (InternalIP addresses and serving SANs).
    #[arg(long, value_name = "IPS")]
    pub node_ip: Option<String>,

    /// The IP address for the kubelet to serve on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub address: IpAddr,

    /// The port for the kubelet to serve on.
    #[arg(long, value_name = "PORT", default_value_t = 10250)]
    pub port: u16,

    /// The port of the localhost healthz endpoint (plain HTTP on 127.0.0.1; 0 disables).
    #[arg(long, value_name = "PORT", default_value_t = 10248)]
    pub healthz_port: u16,

    /// Enables anonymous requests to the Kubelet server. Requests that are not rejected by
    /// another authentication method are treated as anonymous requests (user
    /// system:anonymous, group system:unauthenticated).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub anonymous_auth: bool,

    /// Use the TokenReview API to determine authentication for bearer tokens.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub authentication_token_webhook: bool,

    /// The duration to cache responses from the webhook token authenticator.
    #[arg(long, value_name = "DURATION", default_value = "2m0s")]
    pub authentication_token_webhook_cache_ttl: String,

    /// The duration to cache 'authorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "5m0s")]
    pub authorization_webhook_cache_authorized_ttl: String,

    /// The duration to cache 'unauthorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub authorization_webhook_cache_unauthorized_ttl: String,

    /// Authorization mode for Kubelet server. Valid options are AlwaysAllow or Webhook.
    /// Webhook mode uses the SubjectAccessReview API to determine authorization.
    #[arg(long, value_name = "MODE", default_value = "AlwaysAllow")]
    pub authorization_mode: String,

    /// If set, any request presenting a client certificate signed by one of the authorities
    /// in the client-ca-file is authenticated with an identity corresponding to the
    /// CommonName of the client certificate. Re-read when it changes (new connections).
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// How often to read the ConfigMap kube-public/kube-root-ca.crt to follow a CA rotation
    /// without a restart (a Go duration, e.g. 30s or 5m; 0 turns it off). A published bundle
    /// other than the trusted one is trusted for new connections at once, written into
    /// --kubeconfig (certificate-authority-data) and reported on the Node; when the signer
    /// annotations name another CA than the one that issued the client (or serving)
    /// certificate, that certificate is rotated at once. --bootstrap-kubeconfig is never
    /// changed.
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub root_ca_check_frequency: String,

    /// Labels to add when registering the node: comma list of key=value.
    #[arg(long, value_name = "LABELS")]
    pub node_labels: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level verbosity, as klog's -v (0-1 info, 2-4 debug, 5+ trace).
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,

    /// TEST ONLY: multiply the wait until each rotation deadline by this factor in (0, 1],
    /// so tests see rotations within seconds.
    #[arg(long, hide = true, value_name = "FACTOR", default_value_t = 1.0)]
    pub testing_rotation_deadline_scale: f64,

    /// TEST ONLY: how often the node Lease is renewed (the kubelet: a quarter of the 40 s
    /// lease duration).
    #[arg(long, hide = true, value_name = "SECONDS", default_value_t = 10.0)]
    pub testing_lease_renew_seconds: f64,
}

/// Flags that parse but cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum FlagError {
    #[error("invalid --node-ip {value:?}: not an IP address")]
    NodeIp { value: String },
    #[error("invalid --node-labels entry {entry:?}: expected key=value with a non-empty key")]
    NodeLabel { entry: String },
    #[error(
        "invalid --hostname-override {value:?}: a node name must be a lower-case DNS subdomain"
    )]
    NodeName { value: String },
    #[error("cannot determine the hostname ({reason}); set --hostname-override")]
    Hostname { reason: String },
    #[error("--testing-rotation-deadline-scale must be in (0, 1], got {value}")]
    DeadlineScale { value: f64 },
    #[error("--testing-lease-renew-seconds must be between 0.05 and 3600, got {value}")]
    LeaseRenew { value: f64 },
    #[error("invalid --authorization-mode {value:?}: must be AlwaysAllow or Webhook")]
    AuthorizationMode { value: String },
    #[error("invalid --{flag}: {source}")]
    Duration {
        flag: &'static str,
        #[source]
        source: cli::DurationError,
    },
    #[error(
        "--experimental-bootstrap-kubeconfig ({old}) and --bootstrap-kubeconfig ({new}) name different files"
    )]
    BootstrapKubeconfigs { old: String, new: String },
}

/// What the agent runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub kubeconfig: PathBuf,
    pub bootstrap_kubeconfig: Option<PathBuf>,
    pub cert_dir: PathBuf,
    pub rotate_certificates: bool,
    /// --rotate-server-certificates, when the RotateKubeletServerCertificate gate is on (as
    /// the kubelet decides it).
    pub rotate_server_certificates: bool,
    pub feature_gates: FeatureGates,
    /// Said once logging is up: deprecated flags, GA gates, a gate that turned a flag off.
    pub warnings: Vec<String>,
    /// The node name: `system:node:<name>`, the Node object and the Lease.
    pub node_name: String,
    /// InternalIP addresses, in flag order.
    pub node_ips: Vec<IpAddr>,
    pub address: IpAddr,
    pub port: u16,
    /// 0 disables the localhost healthz endpoint.
    pub healthz_port: u16,
    /// From --node-labels; the well-known labels are added at registration.
    pub node_labels: BTreeMap<String, String>,
    pub rotation_deadline_scale: f64,
    pub lease_renew_interval: Duration,
    /// Who may use the kubelet port (see `auth`).
    pub anonymous_auth: bool,
    pub authentication_token_webhook: bool,
    pub authorization_mode: AuthorizationMode,
    pub client_ca_file: Option<PathBuf>,
    /// How long the port keeps TokenReview and SubjectAccessReview answers.
    pub cache_ttls: CacheTtls,
    /// How often `kube-public/kube-root-ca.crt` is read (decision 0029); zero: never.
    pub root_ca_check_frequency: Duration,
}

impl Args {
    /// Validates the flags; the hostname is read from the system unless overridden.
    pub fn to_config(&self) -> Result<Config, FlagError> {
        let node_name = match &self.hostname_override {
            Some(name) => node_name_from(name)?,
            None => node_name_from(&system_hostname()?)?,
        };
        let scale = self.testing_rotation_deadline_scale;
        if !(scale > 0.0 && scale <= 1.0) {
            return Err(FlagError::DeadlineScale { value: scale });
        }
        let renew = self.testing_lease_renew_seconds;
        if !(0.05..=3600.0).contains(&renew) {
            return Err(FlagError::LeaseRenew { value: renew });
        }
        let authorization_mode = match self.authorization_mode.as_str() {
            "AlwaysAllow" => AuthorizationMode::AlwaysAllow,
            "Webhook" => AuthorizationMode::Webhook,
            other => {
                return Err(FlagError::AuthorizationMode {
                    value: other.to_string(),
                });
            }
        };
        let mut warnings = Vec::new();
        let bootstrap_kubeconfig = match (
            &self.experimental_bootstrap_kubeconfig,
            &self.bootstrap_kubeconfig,
        ) {
            (Some(old), Some(new)) if old != new => {
                return Err(FlagError::BootstrapKubeconfigs {
                    old: old.display().to_string(),
                    new: new.display().to_string(),
                });
            }
            (Some(old), _) => {
                // pflag's words for a deprecated flag.
                warnings.push(
                    "Flag --experimental-bootstrap-kubeconfig has been deprecated, Use --bootstrap-kubeconfig"
                        .to_string(),
                );
                Some(old.clone())
            }
            (None, new) => new.clone(),
        };
        let ttl = |flag: &'static str, value: &str| {
            cli::parse_go_duration(value).map_err(|source| FlagError::Duration { flag, source })
        };
        let cache_ttls = CacheTtls {
            token: ttl(
                "authentication-token-webhook-cache-ttl",
                &self.authentication_token_webhook_cache_ttl,
            )?,
            allowed: ttl(
                "authorization-webhook-cache-authorized-ttl",
                &self.authorization_webhook_cache_authorized_ttl,
            )?,
            denied: ttl(
                "authorization-webhook-cache-unauthorized-ttl",
                &self.authorization_webhook_cache_unauthorized_ttl,
            )?,
        };
        let root_ca_check_frequency =
            ttl("root-ca-check-frequency", &self.root_ca_check_frequency)?;
        let feature_gates = FeatureGates::from_flags(&self.feature_gates);
        warnings.extend(feature_gates.warnings());
        let serving_gate = feature_gates.enabled(cli::ROTATE_KUBELET_SERVER_CERTIFICATE);
        if self.rotate_server_certificates && !serving_gate {
            warnings.push(
                "--rotate-server-certificates is ignored: the RotateKubeletServerCertificate feature gate is off; serving a self-signed certificate"
                    .to_string(),
            );
        }
        Ok(Config {
            kubeconfig: self.kubeconfig.clone(),
            bootstrap_kubeconfig,
            cert_dir: self.cert_dir.clone(),
            rotate_certificates: self.rotate_certificates,
            rotate_server_certificates: self.rotate_server_certificates && serving_gate,
            feature_gates,
            warnings,
            node_name,
            node_ips: parse_node_ips(self.node_ip.as_deref().unwrap_or(""))?,
            address: self.address,
            port: self.port,
            healthz_port: self.healthz_port,
            node_labels: parse_node_labels(self.node_labels.as_deref().unwrap_or(""))?,
            rotation_deadline_scale: scale,
            lease_renew_interval: Duration::from_secs_f64(renew),
            anonymous_auth: self.anonymous_auth,
            authentication_token_webhook: self.authentication_token_webhook,
            authorization_mode,
            client_ca_file: self.client_ca_file.clone(),
            cache_ttls,
            root_ca_check_frequency,
        })
    }
}

/// The kubelet lower-cases and trims the name; it must then be a DNS subdomain.
fn node_name_from(raw: &str) -> Result<String, FlagError> {
    let name = raw.trim().to_ascii_lowercase();
    if !protocol::meta::names::is_dns1123_subdomain(&name) {
        return Err(FlagError::NodeName {
            value: raw.to_owned(),
        });
    }
    Ok(name)
}

fn system_hostname() -> Result<String, FlagError> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .map_err(|e| FlagError::Hostname {
            reason: e.to_string(),
        })
}

fn parse_node_ips(text: &str) -> Result<Vec<IpAddr>, FlagError> {
    let mut ips = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ip: IpAddr = part.parse().map_err(|_| FlagError::NodeIp {
            value: part.to_owned(),
        })?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

fn parse_node_labels(text: &str) -> Result<BTreeMap<String, String>, FlagError> {
    let mut labels = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || FlagError::NodeLabel {
            entry: entry.to_owned(),
        };
        let (key, value) = entry.split_once('=').ok_or_else(bad)?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty()
            || key.contains(char::is_whitespace)
            || value.contains(char::is_whitespace)
        {
            return Err(bad());
        }
        labels.insert(key.to_owned(), value.to_owned());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["kubelet-agent", "--kubeconfig=/k"];
        if !args.iter().any(|a| a.starts_with("--hostname-override")) {
            all.push("--hostname-override=Node-1");
        }
        all.extend_from_slice(args);
        let args = Args::try_parse_from(all).map_err(|e| e.to_string())?;
        args.to_config().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_kubelet_defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.node_name, "node-1");
        assert_eq!(config.cert_dir, PathBuf::from("/var/lib/kubelet/pki"));
        assert!(config.rotate_certificates);
        assert!(!config.rotate_server_certificates);
        assert_eq!(config.port, 10250);
        assert_eq!(config.healthz_port, 10248);
        assert_eq!(config.address.to_string(), "0.0.0.0");
        assert_eq!(config.lease_renew_interval, Duration::from_secs(10));
        // The kubelet's flag defaults (kubeadm's config file turns all three around).
        assert!(config.anonymous_auth);
        assert!(!config.authentication_token_webhook);
        assert_eq!(config.authorization_mode, AuthorizationMode::AlwaysAllow);
        assert_eq!(config.client_ca_file, None);
        assert_eq!(config.cache_ttls, CacheTtls::KUBELET);
        assert_eq!(config.root_ca_check_frequency, Duration::from_secs(60));
    }

    #[test]
    fn the_root_ca_check_frequency_is_a_go_duration_and_0_turns_it_off() {
        let frequency = |value: &str| {
            parse(&[&format!("--root-ca-check-frequency={value}")])
                .map(|c| c.root_ca_check_frequency)
        };
        assert_eq!(frequency("0"), Ok(Duration::ZERO));
        assert_eq!(frequency("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(frequency("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(frequency("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            frequency("60").unwrap_err(),
            r#"invalid --root-ca-check-frequency: time: missing unit in duration "60""#
        );
        let err = frequency("-1m").unwrap_err();
        assert!(
            err.starts_with("invalid --root-ca-check-frequency: "),
            "{err}"
        );
        assert!(frequency("soon").is_err());
    }

    #[test]
    fn lists_and_booleans_parse() {
        let config = parse(&[
            "--node-ip=10.0.0.1, fd00::1,10.0.0.1",
            "--node-labels=a=1,example.com/role=",
            "--rotate-certificates=false",
            "--rotate-server-certificates",
        ])
        .unwrap();
        assert_eq!(
            config.node_ips,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
        assert_eq!(config.node_labels["a"], "1");
        assert_eq!(config.node_labels["example.com/role"], "");
        assert!(!config.rotate_certificates);
        assert!(config.rotate_server_certificates);

        let config = parse(&[
            "--anonymous-auth=false",
            "--authentication-token-webhook",
            "--authorization-mode=Webhook",
            "--client-ca-file=/ca.pem",
        ])
        .unwrap();
        assert!(!config.anonymous_auth);
        assert!(config.authentication_token_webhook);
        assert_eq!(config.authorization_mode, AuthorizationMode::Webhook);
        assert_eq!(config.client_ca_file, Some(PathBuf::from("/ca.pem")));

        let config = parse(&[
            "--authentication-token-webhook-cache-ttl=0",
            "--authorization-webhook-cache-authorized-ttl=1h",
            "--authorization-webhook-cache-unauthorized-ttl=250ms",
        ])
        .unwrap();
        assert_eq!(
            config.cache_ttls,
            CacheTtls {
                token: Duration::ZERO,
                allowed: Duration::from_secs(3600),
                denied: Duration::from_millis(250),
            }
        );
        assert_eq!(
            parse(&["--authorization-webhook-cache-unauthorized-ttl=30"]).unwrap_err(),
            r#"invalid --authorization-webhook-cache-unauthorized-ttl: time: missing unit in duration "30""#
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        assert_eq!(
            parse(&["--node-ip=10.0.0.300"]).unwrap_err(),
            r#"invalid --node-ip "10.0.0.300": not an IP address"#
        );
        assert!(
            parse(&["--node-labels=novalue"])
                .unwrap_err()
                .contains("--node-labels")
        );
        assert!(
            parse(&["--node-labels==x"])
                .unwrap_err()
                .contains("--node-labels")
        );
        assert!(
            parse(&["--hostname-override=bad_name"])
                .unwrap_err()
                .contains("--hostname-override")
        );
        assert!(parse(&["--port=70000"]).unwrap_err().contains("--port"));
        assert!(
            parse(&["--testing-rotation-deadline-scale=0"])
                .unwrap_err()
                .contains("(0, 1]")
        );
        assert!(parse(&["--rotate-certificates=maybe"]).is_err());
        assert_eq!(
            parse(&["--authorization-mode=RBAC"]).unwrap_err(),
            r#"invalid --authorization-mode "RBAC": must be AlwaysAllow or Webhook"#
        );
        let err = parse(&["--feature-gates=NoSuchGate=true"]).unwrap_err();
        assert!(err.contains("--feature-gates"), "{err}");
        assert!(
            err.contains("unrecognized feature gate: NoSuchGate"),
            "{err}"
        );
        let err = parse(&["--feature-gates=RotateKubeletClientCertificate=false"]).unwrap_err();
        assert!(err.contains("feature is locked to true"), "{err}");
    }

    #[test]
    fn the_seeds_old_flags_still_work() {
        // `--experimental-bootstrap-kubeconfig` and the 1.7-era feature gates of the seeds.
        let config = parse(&[
            "--experimental-bootstrap-kubeconfig=/b",
            "--feature-gates=RotateKubeletClientCertificate=true,RotateKubeletServerCertificate=true",
            "--rotate-server-certificates",
        ])
        .unwrap();
        assert_eq!(config.bootstrap_kubeconfig, Some(PathBuf::from("/b")));
        assert!(config.rotate_server_certificates);
        assert_eq!(
            config.warnings,
            vec![
                "Flag --experimental-bootstrap-kubeconfig has been deprecated, Use --bootstrap-kubeconfig",
                "Setting GA feature gate RotateKubeletClientCertificate=true. It will be removed in a future release.",
            ]
        );
        // The same file under both names is fine; two different files are not.
        let config = parse(&[
            "--experimental-bootstrap-kubeconfig=/b",
            "--bootstrap-kubeconfig=/b",
        ])
        .unwrap();
        assert_eq!(config.bootstrap_kubeconfig, Some(PathBuf::from("/b")));
        let err = parse(&[
            "--experimental-bootstrap-kubeconfig=/a",
            "--bootstrap-kubeconfig=/b",
        ])
        .unwrap_err();
        assert!(err.contains("name different files"), "{err}");
    }

    #[test]
    fn the_serving_gate_turns_server_certificate_rotation_off() {
        let config = parse(&[
            "--rotate-server-certificates",
            "--feature-gates=RotateKubeletServerCertificate=false",
        ])
        .unwrap();
        assert!(!config.rotate_server_certificates);
        assert!(
            config.warnings[0].contains("--rotate-server-certificates is ignored"),
            "{:?}",
            config.warnings
        );
        // Repeated flags: the later value wins.
        let config = parse(&[
            "--rotate-server-certificates",
            "--feature-gates=RotateKubeletServerCertificate=false",
            "--feature-gates=RotateKubeletServerCertificate=true",
        ])
        .unwrap();
        assert!(config.rotate_server_certificates);
        assert!(config.warnings.is_empty());
        let config = parse(&["--feature-gates=AllBeta=false"]).unwrap();
        assert!(!config.rotate_server_certificates);
        assert!(config.warnings.is_empty(), "the flag was not asked for");
    }
}
