//! The operator subcommands: `lab ca create`, `lab token create`, `lab certs expiry`.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;

use crate::cli::{CaCreateArgs, ExpiryArgs, TokenCreateArgs};
use crate::token::{BootstrapToken, TokenOptions};
use crate::{duration, expiry, files, init};

/// `lab ca create`.
pub fn ca_create(args: &CaCreateArgs) -> anyhow::Result<()> {
    let validity = duration::parse(&args.validity)?;
    let (ca, paths) = files::create_ca(
        &args.cert_dir,
        &args.common_name,
        args.key_algorithm.into(),
        validity,
        args.force,
    )?;
    let not_after = time::OffsetDateTime::from(ca.not_after());
    println!(
        "wrote {} and {} (0600)",
        paths.cert.display(),
        paths.key.display()
    );
    println!("CA \"{}\" valid until {not_after}", args.common_name);
    Ok(())
}

/// What `lab token create` wrote.
#[derive(Debug)]
pub struct TokenCreated {
    pub token: BootstrapToken,
    pub kubeconfig: PathBuf,
    pub secret_manifest: PathBuf,
}

/// `lab token create` without the optional API call: the token, the kubeconfig, the manifest.
pub fn token_files(args: &TokenCreateArgs) -> anyhow::Result<TokenCreated> {
    let ttl = duration::parse(&args.ttl)?;
    let ca_pem = std::fs::read_to_string(&args.ca_file)
        .with_context(|| format!("cannot read --ca-file {}", args.ca_file.display()))?;
    // Refuse a file that is not a certificate now, not when a node fails TLS later.
    pki::parse_certificates(ca_pem.as_bytes())
        .ok()
        .filter(|certs| !certs.is_empty())
        .with_context(|| format!("{} holds no PEM certificate", args.ca_file.display()))?;
    let token = BootstrapToken::generate();
    let options = TokenOptions {
        expiration: (!ttl.is_zero()).then(|| time::OffsetDateTime::now_utc() + ttl),
        description: args.description.clone(),
        groups: args.groups.clone(),
        node_name: args.node_name.clone(),
    };
    let secret = crate::token::secret(&token, &options)?;
    let secret_manifest = args
        .secret_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", token.secret_name())));
    files::write_private(
        &secret_manifest,
        &(serde_json::to_string_pretty(&secret)? + "\n"),
    )?;
    let config = files::bootstrap_kubeconfig(
        init::CLUSTER_NAME,
        &args.server,
        &ca_pem,
        &token.to_string(),
    );
    files::save_kubeconfig(&config, &args.kubeconfig_out)?;
    Ok(TokenCreated {
        token,
        kubeconfig: args.kubeconfig_out.clone(),
        secret_manifest,
    })
}

/// `lab certs expiry`: the table on stdout; `Ok(false)` when a certificate has expired.
pub fn certs_expiry(args: &ExpiryArgs) -> anyhow::Result<bool> {
    let rows = expiry::scan(&args.cert_dir)?;
    anyhow::ensure!(
        !rows.is_empty(),
        "no PEM certificates under {}",
        args.cert_dir.display()
    );
    let now = SystemTime::now();
    print!("{}", expiry::render(&rows, now));
    Ok(rows.iter().all(|row| row.left(now).is_some()))
}
