//! The command line: `lab up | down | init | seed | ca create | token create | certs expiry`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::files::KeyChoice;

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "A local kubelet TLS bootstrapping cluster in one command, and the operator tools behind it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a CA and credentials, start the apiserver, the controller-manager and N
    /// kubelet-agents on loopback, and show each node bootstrapping until Ctrl-C.
    Up(UpArgs),
    /// Stop a running lab (if any) and remove its state folder.
    Down(StateArgs),
    /// Only prepare a state folder (CA, certificates, kubeconfigs, bootstrap token) without
    /// starting anything: what the compose init container runs.
    Init(InitArgs),
    /// Create the bootstrap-token Secret and the seed ClusterRoleBindings through the API of a
    /// running apiserver, with the state folder's admin kubeconfig (idempotent).
    Seed(SeedArgs),
    /// Certificate authority tools.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Bootstrap token tools.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Certificate inspection tools.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Take a node out of the cluster for good, or make way for its replacement.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Check, from a node, what joining needs: the apiserver and its CA, the clocks, the
    /// credentials, and the RBAC that lets them create and auto-approve the node's CSR.
    /// Exit 1 when a check fails.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("kubeconfigs").required(true).multiple(true))]
pub struct DoctorArgs {
    /// The bootstrap kubeconfig the kubelet-agent starts from (token or certificate).
    #[arg(long, value_name = "FILE", group = "kubeconfigs")]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// The node's own kubeconfig, written after bootstrap (its client certificate).
    #[arg(long, value_name = "FILE", group = "kubeconfigs")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The lab's state folder.
    #[arg(long, default_value = ".lab", value_name = "DIR")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// How many kubelet-agents to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub nodes: u16,
    /// Leave out the nodeclient and selfnodeserver bindings: node client and serving CSRs stay
    /// Pending until `kubectl certificate approve`.
    #[arg(long)]
    pub manual_approval: bool,
    #[command(flatten)]
    pub state: StateArgs,
    /// Use ports P (apiserver), P+1 (controller-manager), P+2.. (two per node) instead of
    /// free ports picked at random.
    #[arg(long, value_name = "P")]
    pub base_port: Option<u16>,
    /// Lifetime of the certificates the controller-manager signs (`--cluster-signing-duration`);
    /// e.g. `15m` to watch client rotation at 70-90 % of it.
    #[arg(long, default_value = "8760h", value_name = "DURATION")]
    pub signing_duration: String,
    /// Folder holding the apiserver, controller-manager and kubelet-agent binaries (default:
    /// the folder of this `lab` executable).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Stop after every node has its client certificate and its Node is registered (exit 0),
    /// or fail after this long; for scripts and tests. Without it the lab runs until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    pub exit_when_ready: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// The URL the kubeconfigs name (e.g. https://apiserver:6443).
    #[arg(long, value_name = "URL")]
    pub server: url::Url,
    /// Extra names or IPs for the apiserver serving certificate (127.0.0.1 and localhost are
    /// always in); repeat the flag.
    #[arg(long = "apiserver-san", value_name = "NAME")]
    pub apiserver_sans: Vec<String>,
    /// Node names (node-1..node-N).
    #[arg(long, default_value_t = 3)]
    pub nodes: u16,
    /// Record that the nodeclient binding is to be left out (read by `lab seed`).
    #[arg(long)]
    pub manual_approval: bool,
    /// Recorded for the controller-manager (`--cluster-signing-duration`).
    #[arg(long, default_value = "8760h", value_name = "DURATION")]
    pub signing_duration: String,
    /// Succeed without changing anything when the folder already holds a lab (a container
    /// restarted by compose keeps its PKI).
    #[arg(long)]
    pub keep_existing: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Talk to this URL instead of the one in the admin kubeconfig.
    #[arg(long, value_name = "URL")]
    pub server: Option<url::Url>,
    /// How long to wait for the apiserver to answer.
    #[arg(long, default_value = "120s", value_name = "DURATION")]
    pub timeout: String,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make a new self-signed CA: `<cert-dir>/ca.pem` and `<cert-dir>/ca-key.pem` (0600).
    Create(CaCreateArgs),
    /// Replace the CA of a running lab without restarting anything: trust the old and a new
    /// CA, wait for every node to trust both; sign and serve with the new one, wait for every
    /// node's client certificate to come from it; then retire the old CA. Run again to go on
    /// after an interruption or a timeout.
    Rotate(CaRotateArgs),
    /// Where a CA rotation stands: the CAs trusted and signing, and per node the bundle it
    /// trusts and the CA its client certificate comes from.
    Status(CaStatusArgs),
    /// Sign a new CA with the old one (a CA rotation by hand): append the output to the
    /// apiserver's --tls-cert-file after its serving certificate from the new CA, and clients
    /// that still trust only the old CA verify the apiserver.
    CrossSign(CaCrossSignArgs),
}

#[derive(Debug, Args)]
pub struct CaCrossSignArgs {
    /// The old CA's certificate (it signs).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// The old CA's private key.
    #[arg(long, value_name = "FILE")]
    pub ca_key: PathBuf,
    /// The new CA's certificate (its subject, key and key identifier are kept).
    #[arg(long, value_name = "FILE")]
    pub new_ca: PathBuf,
    /// Where to write the cross-signed certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CaRotateArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// How long each stage waits for every node.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
    /// Go on when a stage times out, without the nodes that are behind (they will be
    /// refused once the old CA is retired).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CaStatusArgs {
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct CaCreateArgs {
    #[arg(long, value_name = "DIR")]
    pub cert_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = KeyChoice::Ecdsa)]
    pub key_algorithm: KeyChoice,
    #[arg(long, default_value = "kubernetes")]
    pub common_name: String,
    #[arg(long, default_value = "87600h", value_name = "DURATION")]
    pub validity: String,
    /// Replace an existing CA.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a bootstrap token: print it, write a ready bootstrap kubeconfig and the
    /// `kube-system/bootstrap-token-<id>` Secret manifest, optionally create the Secret.
    Create(Box<TokenCreateArgs>),
    /// List the bootstrap tokens as `kubeadm token list` does, with the node each is bound to
    /// and whether it is single-use.
    List(TokenListArgs),
    /// Delete bootstrap tokens (ids or whole tokens), as `kubeadm token delete` does.
    Delete(TokenDeleteArgs),
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// An admin kubeconfig (list secrets in kube-system).
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: PathBuf,
}

#[derive(Debug, Args)]
pub struct TokenDeleteArgs {
    /// Token ids (`abcdef`) or whole tokens (`abcdef.0123456789abcdef`).
    #[arg(required = true, value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// An admin kubeconfig (delete secrets in kube-system).
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: PathBuf,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// How long the token is valid (`0`: never expires).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub ttl: String,
    #[arg(long)]
    pub description: Option<String>,
    /// Extra groups (comma list), each `system:bootstrappers:...`.
    #[arg(long, value_delimiter = ',', default_value = crate::token::DEFAULT_GROUP)]
    pub groups: Vec<String>,
    /// Bind the token to one node: the controller-manager approves its bootstrap CSRs only
    /// for this node name (annotation kubelet-tls-bootstrap/node-name on the Secret).
    #[arg(long, value_name = "NAME", value_parser = parse_node_name)]
    pub node_name: Option<String>,
    /// One machine only: the controller-manager approves one client certificate with it,
    /// keeps it from expiring while that node joins and, with its tokencleaner on, deletes it
    /// once the node is up (annotation kubelet-tls-bootstrap/single-use).
    #[arg(long)]
    pub single_use: bool,
    /// The cluster CA certificate, embedded in the kubeconfig.
    #[arg(long, value_name = "FILE")]
    pub ca_file: PathBuf,
    /// The apiserver URL for the kubeconfig.
    #[arg(long, value_name = "URL")]
    pub server: url::Url,
    #[arg(long, default_value = "bootstrap.kubeconfig", value_name = "FILE")]
    pub kubeconfig_out: PathBuf,
    /// Where to write the Secret manifest (default `bootstrap-token-<id>.json`).
    #[arg(long, value_name = "FILE")]
    pub secret_out: Option<PathBuf>,
    /// Also create the Secret through the API with this (admin) kubeconfig.
    #[arg(long, value_name = "FILE")]
    pub admin_kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Revoke every client certificate the node holds (a CertificateRevocation of its user),
    /// delete the bootstrap tokens bound to it, its Node and its Lease.
    Revoke(NodeRevokeArgs),
    /// Make way for a new machine under the same node name: revoke the old machine's
    /// certificates, lift a block, delete its bound tokens, Node and Lease, and make a
    /// bootstrap token bound to that name with a ready bootstrap kubeconfig.
    Replace(NodeReplaceArgs),
}

#[derive(Debug, Args)]
pub struct NodeTarget {
    /// The node's name (its client certificate says system:node:<NAME>).
    #[arg(value_name = "NAME", value_parser = parse_node_name)]
    pub name: String,
    /// An admin kubeconfig: the changes need create on certificaterevocations and delete on
    /// secrets in kube-system, nodes and leases.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: PathBuf,
    /// Recorded in the CertificateRevocation (`spec.reason`).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct NodeRevokeArgs {
    #[command(flatten)]
    pub target: NodeTarget,
    /// Also refuse certificates issued from now on, so no bootstrap token lets the node join
    /// again (the revocation's issuedBefore is 9999-12-31) until `lab node replace` or
    /// `kubectl delete certificaterevocation`.
    #[arg(long)]
    pub block_rejoin: bool,
    /// Leave the Node and its Lease in place.
    #[arg(long)]
    pub keep_node: bool,
}

#[derive(Debug, Args)]
pub struct NodeReplaceArgs {
    #[command(flatten)]
    pub target: NodeTarget,
    /// How long the new token is valid (`0`: never expires).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub ttl: String,
    /// Make the new token reusable (by default it is single-use: one machine, deleted once
    /// it is up).
    #[arg(long)]
    pub reusable: bool,
    /// The apiserver URL for the new machine (default: the admin kubeconfig's).
    #[arg(long, value_name = "URL")]
    pub server: Option<url::Url>,
    /// The cluster CA certificate for the new machine (default: the admin kubeconfig's).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The bootstrap kubeconfig for the new machine (default `<NAME>-bootstrap.kubeconfig`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Where to write the Secret manifest (default `bootstrap-token-<id>.json`).
    #[arg(long, value_name = "FILE")]
    pub secret_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Print every certificate under a folder with its expiry; exit 1 when one has expired.
    Expiry(ExpiryArgs),
}

#[derive(Debug, Args)]
pub struct ExpiryArgs {
    #[arg(long, value_name = "DIR")]
    pub cert_dir: PathBuf,
}

/// A node name as the kubelet makes it (lower case, a DNS subdomain).
fn parse_node_name(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_ascii_lowercase();
    if protocol::meta::names::is_dns1123_subdomain(&name) {
        Ok(name)
    } else {
        Err(format!(
            "{raw:?} is not a node name (a lower-case DNS subdomain)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn up_defaults() {
        let cli = Cli::try_parse_from(["lab", "up"]).unwrap();
        let Command::Up(up) = cli.command else {
            panic!("not up")
        };
        assert_eq!(up.nodes, 3);
        assert!(!up.manual_approval);
        assert_eq!(up.state.state_dir, PathBuf::from(".lab"));
        assert!(Cli::try_parse_from(["lab", "up", "--nodes", "0"]).is_err());
    }

    #[test]
    fn token_groups_are_a_comma_list() {
        let cli = Cli::try_parse_from([
            "lab",
            "token",
            "create",
            "--ca-file=ca.pem",
            "--server=https://10.0.0.1:6443",
            "--groups=system:bootstrappers:a,system:bootstrappers:b",
        ])
        .unwrap();
        let Command::Token(TokenCommand::Create(args)) = cli.command else {
            panic!("not token create")
        };
        assert_eq!(
            args.groups,
            ["system:bootstrappers:a", "system:bootstrappers:b"]
        );
        assert_eq!(args.ttl, "24h");
    }

    #[test]
    fn node_commands_take_a_node_name_and_a_kubeconfig() {
        let cli = Cli::try_parse_from([
            "lab",
            "node",
            "revoke",
            "Node-1",
            "--kubeconfig=admin.kubeconfig",
            "--block-rejoin",
        ])
        .unwrap();
        let Command::Node(NodeCommand::Revoke(args)) = cli.command else {
            panic!("not node revoke")
        };
        assert_eq!(args.target.name, "node-1");
        assert!(args.block_rejoin && !args.keep_node);
        assert!(
            Cli::try_parse_from(["lab", "node", "revoke", "a_b", "--kubeconfig=k"]).is_err(),
            "not a DNS subdomain"
        );
        let cli =
            Cli::try_parse_from(["lab", "node", "replace", "node-2", "--kubeconfig=k"]).unwrap();
        let Command::Node(NodeCommand::Replace(args)) = cli.command else {
            panic!("not node replace")
        };
        assert_eq!(args.ttl, "24h");
        assert_eq!(args.target.name, "node-2");
    }

    #[test]
    fn a_token_may_be_bound_to_one_node() {
        let parse = |extra: &str| {
            Cli::try_parse_from([
                "lab",
                "token",
                "create",
                "--ca-file=ca.pem",
                "--server=https://10.0.0.1:6443",
                extra,
            ])
        };
        let Command::Token(TokenCommand::Create(args)) =
            parse("--node-name=Worker-7").unwrap().command
        else {
            panic!("not token create")
        };
        assert_eq!(args.node_name.as_deref(), Some("worker-7"));
        let err = parse("--node-name=bad_name").unwrap_err().to_string();
        assert!(err.contains("\"bad_name\" is not a node name"), "{err}");
    }

    #[test]
    fn doctor_needs_a_kubeconfig_to_check() {
        let err = Cli::try_parse_from(["lab", "doctor"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--bootstrap-kubeconfig"), "{err}");
        let cli = Cli::try_parse_from(["lab", "doctor", "--kubeconfig", "k"]).unwrap();
        let Command::Doctor(args) = cli.command else {
            panic!("not doctor")
        };
        assert_eq!(args.kubeconfig, Some(PathBuf::from("k")));
        assert!(args.bootstrap_kubeconfig.is_none());
    }
}
