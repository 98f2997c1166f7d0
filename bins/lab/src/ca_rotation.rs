//! `lab ca rotate` and `lab ca status`: the cluster CA of a running lab replaced stage by stage,
//! nothing restarted, each stage waiting for every node (decision 0029).
//!
//! Files in `pki/`: `ca.pem`/`ca-key.pem` sign, `ca-bundle.pem` is trusted. A rotation adds
//! `ca-next*` (the new CA before it signs), then `ca-previous*` (the old one after the switch,
//! until it is retired). Which of them exist says where a rotation stands, so an interrupted
//! `lab ca rotate` goes on from there when run again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use client::{Client, ListParams};
use pki::{Certificate, CertificateAuthority, KeyAlgorithm};
use protocol::core::v1::{
    NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION, NODE_ROOT_CA_BUNDLE_ANNOTATION, Node,
};

use crate::cli::{CaRotateArgs, CaStatusArgs};
use crate::state::{Layout, Settings};
use crate::{api, duration, files, table};

/// The new CA lives as long as the lab's first one.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long the apiserver has to answer before anything changes.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the waits look at the Nodes.
const POLL: Duration = Duration::from_secs(1);

/// Where a rotation stands, read from the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// One CA signs and is trusted.
    Idle,
    /// A new CA exists and is (being) trusted beside the old one, which still signs.
    Trusting,
    /// The new CA signs; the old one is still trusted until it is retired.
    Switched,
}

pub fn stage(layout: &Layout) -> Stage {
    if layout.ca_previous_cert().exists() {
        Stage::Switched
    } else if layout.ca_next_cert().exists() {
        Stage::Trusting
    } else {
        Stage::Idle
    }
}

/// What a node reports, against what the rotation waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub name: String,
    /// `kubelet-tls-bootstrap/root-ca-bundle`, written by the node.
    pub bundle: Option<String>,
    /// `kubelet-tls-bootstrap/client-certificate-issuer`, written by the apiserver.
    pub issuer: Option<String>,
}

impl NodeState {
    fn of(node: &Node) -> NodeState {
        let annotation = |key: &str| node.metadata.annotations.get(key).cloned();
        NodeState {
            name: node.metadata.name.clone(),
            bundle: annotation(NODE_ROOT_CA_BUNDLE_ANNOTATION),
            issuer: annotation(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        }
    }
}

/// What a stage waits for from every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// The node trusts this bundle (its ID).
    Trusts(String),
    /// The node's client certificate was issued by this CA (its ID).
    IssuedBy(String),
}

impl Goal {
    pub fn met_by(&self, node: &NodeState) -> bool {
        match self {
            Goal::Trusts(id) => node.bundle.as_deref() == Some(id),
            Goal::IssuedBy(id) => node.issuer.as_deref() == Some(id),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Goal::Trusts(_) => "to trust the new CA bundle",
            Goal::IssuedBy(_) => "to renew its client certificate from the new CA",
        }
    }

    /// Why `node` does not meet it yet.
    fn lag(&self, node: &NodeState) -> String {
        let (what, value) = match self {
            Goal::Trusts(_) => ("trusts", &node.bundle),
            Goal::IssuedBy(_) => ("client certificate from", &node.issuer),
        };
        match value {
            Some(value) => format!("{} ({what} {})", node.name, short(value)),
            None => format!("{} (reports nothing yet)", node.name),
        }
    }
}

/// `X509SHA256=0123456789ab…`: enough to tell IDs apart in a line.
fn short(id: &str) -> String {
    match id.split_once('=') {
        Some((kind, hex)) if hex.len() > 12 => format!("{kind}={}…", &hex[..12]),
        _ => id.to_string(),
    }
}

/// The ID the apiserver writes for a CA (decision 0029).
pub fn ca_id(ca: &Certificate) -> String {
    pki::credential_id(ca.der())
}

/// The ID a node reports for a bundle.
pub fn bundle_id(pem: &str) -> anyhow::Result<String> {
    Ok(pki::bundle_id(
        &pki::parse_certificates(pem.as_bytes()).context("the CA bundle")?,
    ))
}

/// `lab ca rotate`.
pub async fn rotate(args: &CaRotateArgs) -> anyhow::Result<()> {
    let layout = Layout::new(&args.state.state_dir);
    Settings::load(&layout)?;
    anyhow::ensure!(
        layout.ca_bundle().exists(),
        "{} has no {}: it was made before CA rotation; `lab down` and `lab up` make a new lab",
        layout.pki_dir().display(),
        files::CA_BUNDLE
    );
    let timeout = duration::parse(&args.timeout).context("--timeout")?;
    let waits = Waits {
        timeout,
        force: args.force,
    };
    // Every stage waits on the nodes through the API: nothing is changed on a stopped lab.
    api::wait_ready(&admin(&layout)?, READY_TIMEOUT)
        .await
        .context("`lab ca rotate` works on a running lab (`lab up`)")?;

    if stage(&layout) == Stage::Idle {
        let ca = CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, CA_VALIDITY)
            .context("cannot generate the new CA")?;
        files::write_private(&layout.ca_next_key(), &ca.key_pem())?;
        files::write_public(&layout.ca_next_cert(), &ca.cert_pem())?;
        println!(
            "new CA {} in {}",
            short(&ca_id(ca.certificate())),
            layout.ca_next_cert().display()
        );
    }

    if stage(&layout) == Stage::Trusting {
        let old = read(&layout.ca_cert())?;
        let new = read(&layout.ca_next_cert())?;
        let bundle = format!("{}{}", ensure_newline(&old), ensure_newline(&new));
        publish_bundle(&layout, &bundle)?;
        println!(
            "1/3 trust: {} holds the old and the new CA (apiserver --client-ca-file, \
             controller-manager --root-ca-file, the lab's kubeconfigs)",
            layout.ca_bundle().display()
        );
        waits
            .every_node(&layout, &Goal::Trusts(bundle_id(&bundle)?))
            .await?;
        switch(&layout, &bundle)?;
    }

    let new = CertificateAuthority::load(layout.ca_cert(), layout.ca_key())
        .context("cannot load the signing CA")?;
    println!(
        "2/3 switch: the new CA {} signs; the apiserver serves, and the admin and \
         controller-manager authenticate, with certificates from it",
        short(&ca_id(new.certificate()))
    );
    waits
        .every_node(&layout, &Goal::IssuedBy(ca_id(new.certificate())))
        .await?;

    let bundle = ensure_newline(&new.cert_pem());
    publish_bundle(&layout, &bundle)?;
    for stale in [layout.ca_previous_cert(), layout.ca_previous_key()] {
        std::fs::remove_file(&stale)
            .with_context(|| format!("cannot remove {}", stale.display()))?;
    }
    println!(
        "3/3 retire: {} holds the new CA alone; the old CA's certificates are refused",
        layout.ca_bundle().display()
    );
    waits
        .every_node(&layout, &Goal::Trusts(bundle_id(&bundle)?))
        .await?;
    println!("CA rotation done");
    Ok(())
}

/// The switch: the apiserver's serving certificate, the admin's and the controller-manager's
/// client certificates and the signing pair move to the new CA; the old pair is kept as
/// `ca-previous*` until it is retired. The apiserver sends the new CA cross-signed by the old
/// one after its certificate, so a client that still trusts only the old CA (a machine that
/// was off, a kubeconfig made before) verifies it, before and after the old CA is retired.
fn switch(layout: &Layout, bundle: &str) -> anyhow::Result<()> {
    let new = CertificateAuthority::load(layout.ca_next_cert(), layout.ca_next_key())
        .context("cannot load the new CA")?;
    let old = CertificateAuthority::load(layout.ca_cert(), layout.ca_key())
        .context("cannot load the old CA")?;
    let cross = old
        .cross_sign(new.certificate())
        .context("cannot cross-sign the new CA with the old one")?;
    files::write_public(&layout.ca_cross_signed_cert(), &cross)?;
    let pki_dir = layout.pki_dir();
    let serving = Certificate::from_pem(&std::fs::read(layout.apiserver_cert())?)
        .context("the apiserver's serving certificate")?;
    let mut names = serving.dns_names().to_vec();
    names.extend(serving.ip_addresses().iter().map(|ip| ip.to_string()));
    files::issue_apiserver_serving(&new, &pki_dir, &names, LEAF_VALIDITY, &cross)?;

    let admin = files::issue_client(
        &new,
        &pki_dir,
        "admin",
        "admin",
        &["system:masters"],
        LEAF_VALIDITY,
    )?;
    set_kubeconfig(&layout.admin_kubeconfig(), bundle, Some(&admin))?;
    let controller_manager = files::issue_client(
        &new,
        &pki_dir,
        "controller-manager",
        "system:kube-controller-manager",
        &[],
        LEAF_VALIDITY,
    )?;
    set_kubeconfig(
        &layout.controller_manager_kubeconfig(),
        bundle,
        Some(&controller_manager),
    )?;

    // The old pair is copied away first, so a crash leaves either stage whole.
    std::fs::copy(layout.ca_cert(), layout.ca_previous_cert())?;
    files::write_private(&layout.ca_previous_key(), &read(&layout.ca_key())?)?;
    // Key first: the controller-manager keeps its old pair while the two do not match.
    files::write_private(&layout.ca_key(), &new.key_pem())?;
    files::write_public(&layout.ca_cert(), &new.cert_pem())?;
    for done in [layout.ca_next_cert(), layout.ca_next_key()] {
        std::fs::remove_file(&done).with_context(|| format!("cannot remove {}", done.display()))?;
    }
    Ok(())
}

/// Writes the trust bundle and puts it into every kubeconfig the lab made (the nodes' own
/// kubeconfigs are the agents' to update).
fn publish_bundle(layout: &Layout, bundle: &str) -> anyhow::Result<()> {
    files::write_public(&layout.ca_bundle(), bundle)?;
    let mut kubeconfigs = vec![
        layout.admin_kubeconfig(),
        layout.controller_manager_kubeconfig(),
        layout.static_bootstrap_kubeconfig(),
    ];
    let settings = Settings::load(layout)?;
    kubeconfigs.extend(
        settings
            .nodes
            .iter()
            .map(|node| layout.node_bootstrap_kubeconfig(&node.name)),
    );
    for path in kubeconfigs.iter().filter(|path| path.exists()) {
        set_kubeconfig(path, bundle, None)?;
    }
    Ok(())
}

/// Sets a kubeconfig's CA data and, when given, its embedded client certificate and key.
fn set_kubeconfig(
    path: &Path,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> anyhow::Result<()> {
    let mut config = kubeconfig::Kubeconfig::load(path)
        .with_context(|| format!("cannot load {}", path.display()))?;
    config
        .embed_certificate_authority(ca_pem.as_bytes())
        .with_context(|| format!("cannot set the CA of {}", path.display()))?;
    if let Some((cert, key)) = client {
        config
            .embed_client_certificate(cert.as_bytes(), key.as_bytes())
            .with_context(|| format!("cannot set the client certificate of {}", path.display()))?;
    }
    files::save_kubeconfig(&config, path)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn ensure_newline(pem: &str) -> String {
    if pem.ends_with('\n') {
        pem.to_string()
    } else {
        format!("{pem}\n")
    }
}

struct Waits {
    timeout: Duration,
    force: bool,
}

impl Waits {
    /// Waits until every Node meets `goal`, printing who is left whenever that changes. On
    /// timeout: an error naming them, or with `--force` a warning and on.
    async fn every_node(&self, layout: &Layout, goal: &Goal) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut last: Option<Vec<String>> = None;
        let mut failure: Option<String> = None;
        loop {
            // A fresh client each time: the switch replaces the admin's certificate and CA.
            let behind = match nodes(layout).await {
                Ok(nodes) => {
                    let behind: Vec<String> = nodes
                        .iter()
                        .filter(|node| !goal.met_by(node))
                        .map(|node| goal.lag(node))
                        .collect();
                    if behind.is_empty() {
                        println!("      all {} nodes {}: done", nodes.len(), goal_done(goal));
                        return Ok(());
                    }
                    if last.as_ref() != Some(&behind) {
                        println!(
                            "      {} of {} nodes {}: waiting for {}",
                            nodes.len() - behind.len(),
                            nodes.len(),
                            goal_done(goal),
                            behind.join(", ")
                        );
                    }
                    last = Some(behind.clone());
                    behind
                }
                Err(error) => {
                    tracing::debug!(error = %format!("{error:#}"), "listing the nodes failed, retrying");
                    failure = Some(format!("{error:#}"));
                    last.clone().unwrap_or_default()
                }
            };
            if started.elapsed() >= self.timeout {
                if last.is_none() {
                    anyhow::bail!(
                        "could not list the nodes for {}: {}; run `lab ca rotate` again once \
                         the apiserver answers (it goes on from this stage)",
                        duration::human(self.timeout),
                        failure.unwrap_or_default()
                    );
                }
                if self.force {
                    println!(
                        "      --force: going on without {} node(s): {}",
                        behind.len(),
                        behind.join(", ")
                    );
                    return Ok(());
                }
                anyhow::bail!(
                    "after {}, {} node(s) have yet {}: {}; run `lab ca rotate` again to wait \
                     longer (it goes on from this stage), or add --force to go on without them",
                    duration::human(self.timeout),
                    behind.len(),
                    goal.describe(),
                    behind.join(", ")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn goal_done(goal: &Goal) -> &'static str {
    match goal {
        Goal::Trusts(_) => "trust the bundle",
        Goal::IssuedBy(_) => "hold a certificate from the new CA",
    }
}

async fn nodes(layout: &Layout) -> anyhow::Result<Vec<NodeState>> {
    let client = admin(layout)?;
    let nodes = client
        .list_all::<Node>(None, &ListParams::default())
        .await
        .context("cannot list the nodes")?;
    Ok(nodes.items.iter().map(NodeState::of).collect())
}

fn admin(layout: &Layout) -> anyhow::Result<Client> {
    api::client_from_kubeconfig(&layout.admin_kubeconfig(), None)
}

/// `lab ca status`: the stage, the CAs, and per node what it trusts and who issued its
/// client certificate.
pub async fn status(args: &CaStatusArgs) -> anyhow::Result<()> {
    let layout = Layout::new(&args.state.state_dir);
    Settings::load(&layout)?;
    let signing =
        Certificate::from_pem(read(&layout.ca_cert())?.as_bytes()).context("the signing CA")?;
    let bundle = read(&layout.ca_bundle())?;
    let trusted = pki::parse_certificates(bundle.as_bytes()).context("the CA bundle")?;
    let bundle_id = pki::bundle_id(&trusted);
    let mut names: BTreeMap<String, &'static str> = BTreeMap::new();
    names.insert(ca_id(&signing), "signing");
    if layout.ca_next_cert().exists() {
        let next = Certificate::from_pem(read(&layout.ca_next_cert())?.as_bytes())?;
        names.insert(ca_id(&next), "next");
    }
    if layout.ca_previous_cert().exists() {
        let previous = Certificate::from_pem(read(&layout.ca_previous_cert())?.as_bytes())?;
        names.insert(ca_id(&previous), "previous");
    }
    let stage = match stage(&layout) {
        Stage::Idle => "none in progress",
        Stage::Trusting => "1/3 trust (old and new CA trusted, the old one signs)",
        Stage::Switched => "2/3 switch (the new CA signs, the old one is still trusted)",
    };
    println!("rotation: {stage}");
    println!(
        "bundle:   {} ({} CA(s): {})",
        short(&bundle_id),
        trusted.len(),
        trusted
            .iter()
            .map(|ca| {
                let id = ca_id(ca);
                format!(
                    "{} {}",
                    names.get(&id).copied().unwrap_or("other"),
                    short(&id)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let nodes = nodes(&layout).await?;
    let mut lines = vec![vec![
        "NODE".to_string(),
        "TRUSTS".to_string(),
        "CLIENT CERTIFICATE ISSUER".to_string(),
    ]];
    for node in &nodes {
        let trusts = match &node.bundle {
            Some(id) if *id == bundle_id => "current bundle".to_string(),
            Some(id) => format!("other bundle {}", short(id)),
            None => "-".to_string(),
        };
        let issuer = match &node.issuer {
            Some(id) => format!(
                "{} {}",
                names.get(id).copied().unwrap_or("other"),
                short(id)
            ),
            None => "-".to_string(),
        };
        lines.push(vec![node.name.clone(), trusts, issuer]);
    }
    print!("{}", table::render(&lines));
    let trusting = nodes
        .iter()
        .filter(|node| node.bundle.as_deref() == Some(&bundle_id))
        .count();
    let signed = nodes
        .iter()
        .filter(|node| node.issuer.as_deref() == Some(&ca_id(&signing)))
        .count();
    println!(
        "{} of {} nodes trust the current bundle, {} hold a client certificate from the signing CA",
        trusting,
        nodes.len(),
        signed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(bundle: Option<&str>, issuer: Option<&str>) -> NodeState {
        NodeState {
            name: "node-1".into(),
            bundle: bundle.map(String::from),
            issuer: issuer.map(String::from),
        }
    }

    #[test]
    fn goals_compare_the_annotations_they_are_about() {
        let trusts = Goal::Trusts("SHA256=aa".into());
        assert!(trusts.met_by(&node(Some("SHA256=aa"), None)));
        assert!(!trusts.met_by(&node(Some("SHA256=bb"), Some("SHA256=aa"))));
        assert!(!trusts.met_by(&node(None, None)));
        let issued = Goal::IssuedBy("X509SHA256=cc".into());
        assert!(issued.met_by(&node(None, Some("X509SHA256=cc"))));
        assert!(!issued.met_by(&node(Some("X509SHA256=cc"), Some("X509SHA256=dd"))));
        assert_eq!(
            issued.lag(&node(None, None)),
            "node-1 (reports nothing yet)"
        );
        assert_eq!(
            issued.lag(&node(None, Some("X509SHA256=0123456789abcdef"))),
            "node-1 (client certificate from X509SHA256=0123456789ab…)"
        );
    }

    #[test]
    fn the_stage_follows_the_files_and_the_switch_moves_every_credential() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let options = crate::init::InitOptions {
            server: "https://127.0.0.1:6443".parse().unwrap(),
            apiserver_sans: vec!["127.0.0.1".into(), "localhost".into()],
            apiserver_port: 6443,
            controller_manager_port: 10257,
            nodes: vec![crate::state::NodeSettings {
                name: "node-1".into(),
                port: 10250,
                healthz_port: 10248,
            }],
            manual_approval: false,
            signing_duration: "8760h".into(),
            token_ttl: None,
        };
        crate::init::init(&layout, &options).unwrap();
        assert_eq!(stage(&layout), Stage::Idle);
        assert_eq!(
            read(&layout.ca_bundle()).unwrap(),
            read(&layout.ca_cert()).unwrap()
        );

        let new =
            CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, CA_VALIDITY).unwrap();
        files::write_private(&layout.ca_next_key(), &new.key_pem()).unwrap();
        files::write_public(&layout.ca_next_cert(), &new.cert_pem()).unwrap();
        assert_eq!(stage(&layout), Stage::Trusting);
        let old = read(&layout.ca_cert()).unwrap();
        let bundle = format!("{old}{}", new.cert_pem());
        publish_bundle(&layout, &bundle).unwrap();
        let ca_of = |path: &Path| {
            let resolved = api::resolve_kubeconfig(path).unwrap();
            String::from_utf8(resolved.ca_pem.unwrap()).unwrap()
        };
        assert_eq!(ca_of(&layout.admin_kubeconfig()), bundle);
        assert_eq!(ca_of(&layout.node_bootstrap_kubeconfig("node-1")), bundle);

        switch(&layout, &bundle).unwrap();
        assert_eq!(stage(&layout), Stage::Switched);
        assert_eq!(read(&layout.ca_previous_cert()).unwrap(), old);
        let signing = CertificateAuthority::load(layout.ca_cert(), layout.ca_key()).unwrap();
        assert_eq!(signing.certificate().der(), new.certificate().der());
        // The serving certificate keeps its names and comes from the new CA.
        let serving =
            Certificate::from_pem(&std::fs::read(layout.apiserver_cert()).unwrap()).unwrap();
        serving.verify_issued_by(new.certificate()).unwrap();
        assert!(serving.dns_names().contains(&"localhost".to_string()));
        // It is followed by the new CA cross-signed by the old one, also kept on its own.
        let chain =
            pki::parse_certificates(&std::fs::read(layout.apiserver_cert()).unwrap()).unwrap();
        assert_eq!(chain.len(), 2);
        let old_ca = Certificate::from_pem(old.as_bytes()).unwrap();
        chain[1].verify_issued_by(&old_ca).unwrap();
        assert_eq!(
            chain[1].public_key_der(),
            new.certificate().public_key_der()
        );
        serving.verify_issued_by(&chain[1]).unwrap();
        assert_eq!(
            read(&layout.ca_cross_signed_cert()).unwrap(),
            chain[1].to_pem()
        );
        // So does the admin's client certificate, and its kubeconfig trusts both CAs.
        let admin = api::resolve_kubeconfig(&layout.admin_kubeconfig()).unwrap();
        let kubeconfig::Identity::ClientCertificate { cert_pem, .. } = admin.identity else {
            panic!("admin uses a certificate");
        };
        Certificate::from_pem(&cert_pem)
            .unwrap()
            .verify_issued_by(new.certificate())
            .unwrap();
        assert_eq!(ca_of(&layout.controller_manager_kubeconfig()), bundle);
    }
}
