//! The operator subcommands: `lab ca create`, `lab ca cross-sign`, `lab token create`, `lab certs expiry`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use pki::CertificateAuthority;

use crate::cli::{CaCreateArgs, CaCrossSignArgs, ExpiryArgs, TokenCreateArgs};
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

/// `lab ca cross-sign`.
pub fn ca_cross_sign(args: &CaCrossSignArgs) -> anyhow::Result<()> {
    let old = CertificateAuthority::load(&args.ca, &args.ca_key)
        .context("cannot load the signing CA (--ca, --ca-key)")?;
    let new = pki::Certificate::from_pem(
        &std::fs::read(&args.new_ca)
            .with_context(|| format!("cannot read {}", args.new_ca.display()))?,
    )
    .with_context(|| format!("--new-ca {}", args.new_ca.display()))?;
    let cross = old
        .cross_sign(&new)
        .with_context(|| format!("cannot cross-sign {}", args.new_ca.display()))?;
    files::write_public(&args.out, &cross)?;
    let not_after = pki::Certificate::from_pem(cross.as_bytes())?.not_after();
    println!(
        "wrote {}: \"{}\" signed by \"{}\", valid until {}",
        args.out.display(),
        new.subject(),
        old.certificate().subject(),
        time::OffsetDateTime::from(not_after)
    );
    Ok(())
}

/// What `lab token create` wrote.
#[derive(Debug)]
pub struct TokenCreated {
    pub token: BootstrapToken,
    pub kubeconfig: PathBuf,
    pub secret_manifest: PathBuf,
    /// What the manifest holds, to create through the API.
    pub secret: protocol::core::v1::Secret,
}

/// `lab token create` without the optional API call: the token, the kubeconfig, the manifest.
pub fn token_files(args: &TokenCreateArgs) -> anyhow::Result<TokenCreated> {
    let ca_pem = read_ca_file(&args.ca_file)?;
    write_token_files(&NewToken {
        ttl: duration::parse(&args.ttl)?,
        description: args.description.clone(),
        groups: args.groups.clone(),
        node_name: args.node_name.clone(),
        single_use: args.single_use,
        server: &args.server,
        ca_pem: &ca_pem,
        kubeconfig_out: args.kubeconfig_out.clone(),
        secret_out: args.secret_out.clone(),
    })
}

/// Reads a CA certificate file, refusing one that holds none now rather than when a node
/// fails TLS later.
pub fn read_ca_file(path: &Path) -> anyhow::Result<String> {
    let ca_pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    check_ca_pem(&ca_pem)
        .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
    Ok(ca_pem)
}

fn check_ca_pem(ca_pem: &str) -> Option<()> {
    pki::parse_certificates(ca_pem.as_bytes())
        .ok()
        .filter(|certs| !certs.is_empty())
        .map(|_| ())
}

/// A bootstrap token to make, and where its files go.
pub struct NewToken<'a> {
    /// Zero: never expires.
    pub ttl: std::time::Duration,
    pub description: Option<String>,
    pub groups: Vec<String>,
    pub node_name: Option<String>,
    pub single_use: bool,
    pub server: &'a url::Url,
    pub ca_pem: &'a str,
    pub kubeconfig_out: PathBuf,
    /// Default `bootstrap-token-<id>.json`.
    pub secret_out: Option<PathBuf>,
}

/// Makes a token and writes its Secret manifest (0600) and a bootstrap kubeconfig.
pub fn write_token_files(new: &NewToken<'_>) -> anyhow::Result<TokenCreated> {
    check_ca_pem(new.ca_pem).context("the CA holds no PEM certificate")?;
    let token = BootstrapToken::generate();
    let options = TokenOptions {
        expiration: (!new.ttl.is_zero()).then(|| time::OffsetDateTime::now_utc() + new.ttl),
        description: new.description.clone(),
        groups: new.groups.clone(),
        node_name: new.node_name.clone(),
        single_use: new.single_use,
    };
    let secret = crate::token::secret(&token, &options)?;
    let secret_manifest = new
        .secret_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", token.secret_name())));
    files::write_private(
        &secret_manifest,
        &(serde_json::to_string_pretty(&secret)? + "\n"),
    )?;
    let config = files::bootstrap_kubeconfig(
        init::CLUSTER_NAME,
        new.server,
        new.ca_pem,
        &token.to_string(),
    );
    files::save_kubeconfig(&config, &new.kubeconfig_out)?;
    Ok(TokenCreated {
        token,
        kubeconfig: new.kubeconfig_out.clone(),
        secret_manifest,
        secret,
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

#[cfg(test)]
mod tests {
    use super::*;
    use pki::KeyAlgorithm;
    use std::time::Duration;

    const YEAR: Duration = Duration::from_secs(8760 * 3600);

    #[test]
    fn cross_sign_writes_the_new_ca_signed_by_the_old_and_refuses_a_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let (old_dir, new_dir) = (dir.path().join("old"), dir.path().join("new"));
        let (old, old_files) =
            files::create_ca(&old_dir, "cluster", KeyAlgorithm::EcdsaP256, YEAR, false).unwrap();
        let (new, new_files) =
            files::create_ca(&new_dir, "cluster", KeyAlgorithm::Rsa2048, YEAR, false).unwrap();
        let out = dir.path().join("cross.pem");
        let args = CaCrossSignArgs {
            ca: old_files.cert.clone(),
            ca_key: old_files.key.clone(),
            new_ca: new_files.cert.clone(),
            out: out.clone(),
        };
        ca_cross_sign(&args).unwrap();
        let cross = pki::Certificate::from_pem(&std::fs::read(&out).unwrap()).unwrap();
        cross.verify_issued_by(old.certificate()).unwrap();
        assert_eq!(cross.public_key_der(), new.certificate().public_key_der());
        assert_eq!(cross.subject(), new.certificate().subject());

        let wrong_key = CaCrossSignArgs {
            ca_key: new_files.key,
            ..args
        };
        let error = format!("{:#}", ca_cross_sign(&wrong_key).unwrap_err());
        assert!(error.contains("does not match"), "{error}");
    }
}
