//! Command-line flags, named as kube-apiserver names them, and their validation into a
//! [`Config`] (files read and parsed here, so every bad input is a start-up error).

pub use cli::LogFormat;
use cli::parse_go_bool;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::authn::token_file::{TokenFile, TokenFileError};
use crate::authz::{AuthorizationMode, AuthorizationModes, parse_modes};
use crate::tls::{ServingTls, TlsError};

/// The raw flags.
#[derive(Debug, Parser)]
#[command(
    name = "apiserver",
    version,
    about = "Kubernetes-compatible API server for kubelet TLS bootstrapping"
)]
pub struct Args {
    /// The port on which to serve HTTPS.
    #[arg(long, default_value_t = 6443, value_name = "PORT")]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind_address: IpAddr,

    /// File containing the x509 serving certificate (followed by any intermediates), PEM.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the x509 private key matching --tls-cert-file (PKCS#1, PKCS#8 or SEC1 PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,

    /// If set, a client certificate signed by one of these CAs authenticates as its CommonName,
    /// with its Organizations as groups.
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// If set, the file (CSV: token,user,uid,"group1,group2") that secures the secure port
    /// via bearer token authentication.
    #[arg(long, value_name = "FILE")]
    pub token_auth_file: Option<PathBuf>,

    /// Enable to allow secrets of type 'bootstrap.kubernetes.io/token' in the 'kube-system'
    /// namespace to be used for TLS bootstrapping authentication.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub enable_bootstrap_token_auth: bool,

    /// Ordered list of plug-ins to do authorization on the secure port: a comma list of
    /// AlwaysAllow, AlwaysDeny, Node, RBAC; the first Allow or Deny wins. Upstream defaults to
    /// AlwaysAllow (for backwards compatibility); we default to Node,RBAC so a server started
    /// without the flag is not wide open to every authenticated (or anonymous) caller.
    #[arg(long, value_name = "MODES", default_value = "Node,RBAC", value_parser = parse_modes)]
    pub authorization_mode: AuthorizationModes,

    /// Enables anonymous requests (user system:anonymous, group system:unauthenticated) for
    /// requests that carry no credentials.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub anonymous_auth: bool,

    /// Folder of the embedded durable store (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level verbosity, as klog's -v (0-1 info, 2-4 debug, 5+ trace).
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,
}

/// Validated settings of one server run. Tests build it with [`Config::new`].
#[derive(Debug)]
pub struct Config {
    /// Serving certificate, key and (optionally) the client CA.
    pub tls: ServingTls,
    /// Static bearer tokens (`--token-auth-file`).
    pub token_file: Option<TokenFile>,
    /// Authenticate bootstrap tokens against kube-system Secrets.
    pub bootstrap_token_auth: bool,
    /// Authorizers in the order asked (after `system:masters`).
    pub authorization_modes: Vec<AuthorizationMode>,
    /// Whether requests without credentials proceed as `system:anonymous`.
    pub anonymous_auth: bool,
    /// The embedded store's folder.
    pub data_dir: PathBuf,
    /// How long requests in flight may finish after shutdown is requested (watches end at once).
    pub shutdown_grace: Duration,
}

impl Config {
    /// Settings with the flag defaults: no token file, no bootstrap tokens, `Node,RBAC`,
    /// anonymous allowed.
    pub fn new(tls: ServingTls, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            tls,
            token_file: None,
            bootstrap_token_auth: false,
            authorization_modes: vec![AuthorizationMode::Node, AuthorizationMode::Rbac],
            anonymous_auth: true,
            data_dir: data_dir.into(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A flag value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A flag the server cannot run without.
    #[error("flag {0} is required")]
    Missing(&'static str),
    /// The serving certificate, key or client CA.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token file.
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
}

impl Args {
    /// The address to bind.
    pub fn listen_address(&self) -> SocketAddr {
        SocketAddr::new(self.bind_address, self.secure_port)
    }

    /// Reads and checks every file the flags name.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let cert = self
            .tls_cert_file
            .as_deref()
            .ok_or(ConfigError::Missing("--tls-cert-file"))?;
        let key = self
            .tls_private_key_file
            .as_deref()
            .ok_or(ConfigError::Missing("--tls-private-key-file"))?;
        let tls = ServingTls::load(cert, key, self.client_ca_file.as_deref())?;
        let token_file = self
            .token_auth_file
            .as_deref()
            .map(TokenFile::load)
            .transpose()?;
        Ok(Config {
            token_file,
            bootstrap_token_auth: self.enable_bootstrap_token_auth,
            authorization_modes: self.authorization_mode.0.clone(),
            anonymous_auth: self.anonymous_auth,
            ..Config::new(tls, self.data_dir.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("apiserver").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_kube_apiserver_except_authorization_mode() {
        let args = parse(&["--data-dir", "/tmp/x"]).expect("parse");
        assert_eq!(args.secure_port, 6443);
        assert_eq!(args.listen_address().to_string(), "0.0.0.0:6443");
        assert!(args.anonymous_auth);
        assert!(!args.enable_bootstrap_token_auth);
        assert_eq!(
            args.authorization_mode.0,
            vec![AuthorizationMode::Node, AuthorizationMode::Rbac]
        );
        assert_eq!(args.log_format, LogFormat::Text);
        assert_eq!(args.verbosity, 0);
    }

    #[test]
    fn go_style_booleans_and_verbosity() {
        let args = parse(&[
            "--data-dir=/d",
            "--enable-bootstrap-token-auth",
            "--anonymous-auth=false",
            "-v=4",
            "--log-format=json",
        ])
        .expect("parse");
        assert!(args.enable_bootstrap_token_auth);
        assert!(!args.anonymous_auth);
        assert_eq!(args.verbosity, 4);
        assert_eq!(args.log_format, LogFormat::Json);
        let args = parse(&[
            "--data-dir=/d",
            "--enable-bootstrap-token-auth=false",
            "--v=2",
        ])
        .expect("parse");
        assert!(!args.enable_bootstrap_token_auth);
        assert_eq!(args.verbosity, 2);
        assert!(parse(&["--data-dir=/d", "--anonymous-auth=maybe"]).is_err());
    }

    #[test]
    fn authorization_modes_keep_their_order() {
        let args =
            parse(&["--data-dir=/d", "--authorization-mode=RBAC,Node,AlwaysDeny"]).expect("parse");
        assert_eq!(
            args.authorization_mode.0,
            vec![
                AuthorizationMode::Rbac,
                AuthorizationMode::Node,
                AuthorizationMode::AlwaysDeny
            ]
        );
        let err = parse(&["--data-dir=/d", "--authorization-mode=Node,ABAC"]).unwrap_err();
        assert!(err.to_string().contains("ABAC"), "{err}");
        assert!(parse(&["--data-dir=/d", "--authorization-mode=RBAC,RBAC"]).is_err());
        assert!(parse(&["--data-dir=/d", "--authorization-mode="]).is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let args = parse(&["--data-dir=/d"]).expect("parse");
        let err = args.to_config().unwrap_err();
        assert_eq!(err.to_string(), "flag --tls-cert-file is required");
        let args = parse(&[
            "--data-dir=/d",
            "--tls-cert-file=/nonexistent/cert.pem",
            "--tls-private-key-file=/nonexistent/key.pem",
        ])
        .expect("parse");
        let err = args.to_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
