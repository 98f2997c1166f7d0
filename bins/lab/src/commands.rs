//! `lab init`, `lab seed` and `lab token create`: the subcommands the compose cluster and
//! operators run on their own.

use std::time::Duration;

use anyhow::Context as _;
use protocol::core::v1::Secret;

use crate::cli::{InitArgs, SeedArgs, TokenCreateArgs};
use crate::init::{self, InitOptions};
use crate::state::{Layout, NodeSettings, Settings};
use crate::{api, duration, ops, token};

/// Default ports inside containers or on a real host.
const APISERVER_PORT: u16 = 6443;
const CONTROLLER_MANAGER_PORT: u16 = 10257;
const KUBELET_PORT: u16 = 10250;
const KUBELET_HEALTHZ_PORT: u16 = 10248;

/// `lab init`.
pub fn init(args: &InitArgs) -> anyhow::Result<()> {
    duration::parse(&args.signing_duration).context("--signing-duration")?;
    let mut sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    if let Some(host) = args.server.host_str() {
        sans.push(host.to_string());
    }
    sans.extend(args.apiserver_sans.iter().cloned());
    sans.dedup();
    let layout = Layout::new(&args.state.state_dir);
    if args.keep_existing && layout.settings_file().exists() {
        let settings = Settings::load(&layout)?;
        // A state folder made before CA rotation (decision 0029) has no trust bundle yet.
        if !layout.ca_bundle().exists() {
            let ca = std::fs::read_to_string(layout.ca_cert())
                .with_context(|| format!("cannot read {}", layout.ca_cert().display()))?;
            crate::files::write_public(&layout.ca_bundle(), &ca)?;
        }
        println!(
            "{} already initialised for {}; keeping it",
            layout.root().display(),
            settings.server
        );
        return Ok(());
    }
    let settings = init::init(
        &layout,
        &InitOptions {
            server: args.server.clone(),
            apiserver_sans: sans,
            apiserver_port: args.server.port().unwrap_or(APISERVER_PORT),
            controller_manager_port: CONTROLLER_MANAGER_PORT,
            nodes: init::node_names(usize::from(args.nodes))
                .into_iter()
                .map(|name| NodeSettings {
                    name,
                    port: KUBELET_PORT,
                    healthz_port: KUBELET_HEALTHZ_PORT,
                })
                .collect(),
            manual_approval: args.manual_approval,
            signing_duration: args.signing_duration.clone(),
            token_ttl: None,
        },
    )?;
    println!(
        "initialised {} for {} ({} nodes, bootstrap token id {})",
        layout.root().display(),
        settings.server,
        settings.nodes.len(),
        settings.token_id
    );
    Ok(())
}

/// `lab seed`.
pub async fn seed(args: &SeedArgs) -> anyhow::Result<()> {
    let layout = Layout::new(&args.state.state_dir);
    let settings = Settings::load(&layout)?;
    let timeout = duration::parse(&args.timeout).context("--timeout")?;
    let admin = api::client_from_kubeconfig(&layout.admin_kubeconfig(), args.server.as_ref())?;
    api::wait_ready(&admin, timeout).await?;
    let path = layout.bootstrap_token_secret();
    let secret: Secret = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a Secret", path.display()))?;
    for line in api::seed(&admin, &secret, settings.manual_approval).await? {
        println!("{line}");
    }
    Ok(())
}

/// `lab token create`: the token alone on stdout (for `TOKEN=$(lab token create ...)`), the
/// rest on stderr.
pub async fn token_create(args: &TokenCreateArgs) -> anyhow::Result<()> {
    let created = ops::token_files(args)?;
    eprintln!(
        "wrote {} (bootstrap kubeconfig for {}) and {} (Secret kube-system/{})",
        created.kubeconfig.display(),
        args.server,
        created.secret_manifest.display(),
        created.token.secret_name()
    );
    if let Some(admin_kubeconfig) = &args.admin_kubeconfig {
        let admin = api::client_from_kubeconfig(admin_kubeconfig, None)?;
        api::wait_ready(&admin, Duration::from_secs(10)).await?;
        let made = api::create_if_absent(&admin, Some(token::SECRET_NAMESPACE), &created.secret)
            .await
            .with_context(|| format!("cannot create secret {}", created.token.secret_name()))?;
        eprintln!(
            "secret/{} {}",
            created.token.secret_name(),
            if made { "created" } else { "already existed" }
        );
    } else {
        eprintln!(
            "create it with: kubectl create -f {}",
            created.secret_manifest.display()
        );
    }
    println!("{}", created.token);
    Ok(())
}
