//! `lab token list` and `lab token delete`: kubeadm's `token list` and `token delete` over the
//! API, with two columns of ours: the node a token is bound to (decision 0020) and whether it
//! is single-use (decision 0026).

use std::time::Duration;

use anyhow::Context as _;
use client::{Client, ListParams};
use protocol::core::v1::{
    BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION, BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION, Secret,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{TokenDeleteArgs, TokenListArgs};
use crate::token::{self, BootstrapToken};
use crate::{api, table};

/// The `usage-bootstrap-*` keys kubeadm knows, in its order.
const USAGES: [&str; 2] = ["authentication", "signing"];

/// One token Secret as `kubeadm token list` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub token: String,
    /// `None`: never expires. `Err`: unreadable.
    pub expires: Option<Result<OffsetDateTime, String>>,
    pub usages: Vec<&'static str>,
    pub description: String,
    pub groups: String,
    pub node: Option<String>,
    pub single_use: bool,
}

/// Reads a token Secret; `Err` says why it is not a valid token (kubeadm skips those with a
/// warning).
pub fn read(secret: &Secret) -> Result<Listed, String> {
    let text = format!(
        "{}.{}",
        secret.data_str("token-id"),
        secret.data_str("token-secret")
    );
    let token = BootstrapToken::parse(&text).map_err(|e| e.to_string())?;
    if secret.metadata.name != token.secret_name() {
        return Err(format!(
            "its name is not {}, as its token-id says",
            token.secret_name()
        ));
    }
    let expires = secret.bootstrap_token_expiration();
    let annotations = &secret.metadata.annotations;
    Ok(Listed {
        token: token.to_string(),
        expires,
        usages: USAGES
            .into_iter()
            .filter(|u| secret.data_str(&format!("usage-bootstrap-{u}")) == "true")
            .collect(),
        description: secret.data_str("description").to_string(),
        groups: secret.data_str("auth-extra-groups").to_string(),
        node: annotations
            .get(BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION)
            .cloned(),
        single_use: annotations
            .get(BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION)
            .is_some_and(|v| v == "true"),
    })
}

/// apimachinery's `ShortHumanDuration`, which kubeadm prints as TTL.
pub fn short_human_duration(seconds: i64) -> String {
    if seconds < -1 {
        "<invalid>".to_string()
    } else if seconds < 0 {
        "0s".to_string()
    } else if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else if seconds < 24 * 3600 {
        format!("{}h", seconds / 3600)
    } else if seconds < 365 * 24 * 3600 {
        format!("{}d", seconds / (24 * 3600))
    } else {
        format!("{}y", seconds / (365 * 24 * 3600))
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text.to_string()
    }
}

/// The table `lab token list` prints.
pub fn render(tokens: &[Listed], now: OffsetDateTime) -> String {
    let mut lines = vec![
        [
            "TOKEN",
            "TTL",
            "EXPIRES",
            "USAGES",
            "DESCRIPTION",
            "EXTRA GROUPS",
            "NODE",
            "SINGLE-USE",
        ]
        .map(str::to_string),
    ];
    for listed in tokens {
        let (ttl, expires) = match &listed.expires {
            None => ("<forever>".to_string(), "<never>".to_string()),
            Some(Ok(at)) => (
                short_human_duration((*at - now).whole_seconds()),
                at.format(&Rfc3339).unwrap_or_default(),
            ),
            Some(Err(raw)) => ("<invalid>".to_string(), raw.clone()),
        };
        lines.push([
            listed.token.clone(),
            ttl,
            expires,
            or_none(&listed.usages.join(",")),
            or_none(&listed.description),
            or_none(&listed.groups),
            or_none(listed.node.as_deref().unwrap_or_default()),
            listed.single_use.to_string(),
        ]);
    }
    table::render(&lines)
}

async fn admin_client(kubeconfig: &std::path::Path) -> anyhow::Result<Client> {
    let client = api::client_from_kubeconfig(kubeconfig, None)?;
    api::wait_ready(&client, Duration::from_secs(10)).await?;
    Ok(client)
}

/// `lab token list`: the table on stdout, a warning on stderr for each Secret that is no valid
/// token.
pub async fn list(args: &TokenListArgs) -> anyhow::Result<()> {
    let client = admin_client(&args.kubeconfig).await?;
    let params = ListParams::default().fields(format!("type={}", token::SECRET_TYPE));
    let secrets = client
        .list_all::<Secret>(Some(token::SECRET_NAMESPACE), &params)
        .await
        .context("cannot list the bootstrap-token secrets")?
        .items;
    let mut tokens = Vec::new();
    for secret in &secrets {
        match read(secret) {
            Ok(listed) => tokens.push(listed),
            Err(why) => eprintln!(
                "lab: skipping secret {}/{}: {why}",
                token::SECRET_NAMESPACE,
                secret.metadata.name
            ),
        }
    }
    tokens.sort_by(|a, b| a.token.cmp(&b.token));
    print!("{}", render(&tokens, OffsetDateTime::now_utc()));
    Ok(())
}

/// The token id of a `lab token delete` argument: an id, or a whole token.
pub fn token_id(text: &str) -> anyhow::Result<String> {
    if let Ok(token) = BootstrapToken::parse(text) {
        return Ok(token.id().to_string());
    }
    anyhow::ensure!(
        text.len() == 6
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{text:?} is neither a token id ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})"
    );
    Ok(text.to_string())
}

/// `lab token delete`: one line per token, as kubeadm's; fails on the first it cannot delete.
pub async fn delete(args: &TokenDeleteArgs) -> anyhow::Result<()> {
    let ids = args
        .tokens
        .iter()
        .map(|t| token_id(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = admin_client(&args.kubeconfig).await?;
    for id in ids {
        let name = format!("bootstrap-token-{id}");
        client
            .delete::<Secret>(Some(token::SECRET_NAMESPACE), &name)
            .await
            .with_context(|| format!("failed to delete bootstrap token {id:?}"))?;
        println!("bootstrap token {id:?} deleted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenOptions;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    #[test]
    fn ttl_reads_as_kubeadm_prints_it() {
        assert_eq!(short_human_duration(-5), "<invalid>");
        assert_eq!(short_human_duration(-1), "0s");
        assert_eq!(short_human_duration(59), "59s");
        assert_eq!(short_human_duration(3599), "59m");
        assert_eq!(short_human_duration(23 * 3600 + 59), "23h");
        assert_eq!(short_human_duration(3 * 24 * 3600), "3d");
        assert_eq!(short_human_duration(800 * 24 * 3600), "2y");
    }

    #[test]
    fn tokens_list_as_kubeadm_with_our_columns() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let options = TokenOptions {
            expiration: Some(at("2026-12-08T12:00:00Z")),
            node_name: Some("worker-7".to_string()),
            single_use: true,
            ..TokenOptions::default()
        };
        let bound = read(&token::secret(&token, &options).unwrap()).unwrap();
        let plain_token = BootstrapToken::parse("ghijkl.0123456789abcdef").unwrap();
        let plain = TokenOptions {
            description: Some("lab".to_string()),
            groups: Vec::new(),
            ..TokenOptions::default()
        };
        let plain = read(&token::secret(&plain_token, &plain).unwrap()).unwrap();
        // A few seconds after a 24h token was made, as kubeadm shows it.
        let table = render(&[bound, plain], at("2026-12-07T12:00:05Z"));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "TOKEN",
                "TTL",
                "EXPIRES",
                "USAGES",
                "DESCRIPTION",
                "EXTRA",
                "GROUPS",
                "NODE",
                "SINGLE-USE"
            ]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "abcdef.0123456789abcdef",
                "23h",
                "2026-12-08T12:00:00Z",
                "authentication,signing",
                "<none>",
                "system:bootstrappers:kubeadm:default-node-token",
                "worker-7",
                "true"
            ]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "ghijkl.0123456789abcdef",
                "<forever>",
                "<never>",
                "authentication,signing",
                "lab",
                "<none>",
                "<none>",
                "false"
            ]
        );
    }

    #[test]
    fn secrets_that_are_no_token_are_said_why() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let mut secret = token::secret(&token, &TokenOptions::default()).unwrap();
        secret.metadata.name = "bootstrap-token-zzzzzz".to_string();
        assert!(
            read(&secret)
                .unwrap_err()
                .contains("bootstrap-token-abcdef")
        );
        secret.data.remove("token-secret");
        assert!(read(&secret).is_err());
        let mut garbled = token::secret(&token, &TokenOptions::default()).unwrap();
        garbled
            .data
            .insert("expiration".to_string(), b"tomorrow".to_vec());
        let listed = read(&garbled).unwrap();
        let table = render(&[listed], at("2026-12-07T12:00:00Z"));
        assert!(table.contains("<invalid>   tomorrow"), "{table}");
    }

    #[test]
    fn delete_takes_an_id_or_a_whole_token() {
        assert_eq!(token_id("abcdef").unwrap(), "abcdef");
        assert_eq!(token_id("abcdef.0123456789abcdef").unwrap(), "abcdef");
        for bad in ["ABCDEF", "abc", "abcdef.short", "../etc"] {
            let err = token_id(bad).unwrap_err().to_string();
            assert!(err.contains("is neither a token id"), "{bad}: {err}");
        }
    }
}
