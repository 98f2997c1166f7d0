//! `--token-auth-file`: static bearer tokens, as upstream's `tokenfile` authenticator reads them.

use std::path::{Path, PathBuf};

use rbac::UserInfo;
use subtle::ConstantTimeEq;

use super::csv;

/// The token file could not be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    #[error("failed to read token file '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file '{path}' {source}")]
    Syntax {
        path: PathBuf,
        #[source]
        source: csv::CsvError,
    },
    /// Upstream's wording, plus the line.
    #[error(
        "token file '{path}' line {line} must have at least 3 columns (token, user name, user uid), found {found}"
    )]
    TooFewColumns {
        path: PathBuf,
        line: usize,
        found: usize,
    },
}

/// The tokens of one file. Lookups compare against every token in constant time, so response
/// timing says nothing about how much of a guess was right.
pub struct TokenFile {
    entries: Vec<(String, UserInfo)>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens themselves.
        f.debug_struct("TokenFile")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

impl TokenFile {
    /// Reads and parses the file.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TokenFile::parse(&text, path)
    }

    /// Parses file contents; `path` is only used in errors and warnings.
    pub fn parse(text: &str, path: &Path) -> Result<TokenFile, TokenFileError> {
        let records = csv::parse(text).map_err(|source| TokenFileError::Syntax {
            path: path.to_path_buf(),
            source,
        })?;
        let mut entries: Vec<(String, UserInfo)> = Vec::new();
        for record in records {
            let fields = record.fields;
            if fields.len() < 3 {
                return Err(TokenFileError::TooFewColumns {
                    path: path.to_path_buf(),
                    line: record.line,
                    found: fields.len(),
                });
            }
            let token = fields[0].clone();
            if token.is_empty() {
                tracing::warn!(file = %path.display(), line = record.line, "skipped empty token in token file");
                continue;
            }
            let mut user = UserInfo::new(fields[1].clone(), Vec::<String>::new());
            user.uid = fields[2].clone();
            if let Some(groups) = fields.get(3) {
                // As upstream: split on ',' without trimming, so "" gives one empty group.
                user.groups = groups.split(',').map(str::to_string).collect();
            }
            if let Some(existing) = entries.iter_mut().find(|(t, _)| *t == token) {
                tracing::warn!(file = %path.display(), line = record.line, "duplicate token in token file, the later line wins");
                existing.1 = user;
            } else {
                entries.push((token, user));
            }
        }
        Ok(TokenFile { entries })
    }

    /// The user a token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        let mut found = None;
        for (candidate, user) in &self.entries {
            // No early exit: every entry is compared.
            if bool::from(candidate.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(user);
            }
        }
        found.cloned()
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        TokenFile::parse(text, Path::new("/etc/tokens.csv"))
    }

    #[test]
    fn columns_groups_and_lookup() {
        let file = parse(
            "admin-token,admin,uid-1,\"system:masters,ops\"\nplain,bob,2\nnogroup,carol,3,\nextra,dave,4,g,ignored\n",
        )
        .expect("valid");
        assert_eq!(file.len(), 4);
        let admin = file.authenticate("admin-token").expect("admin");
        assert_eq!(admin.name, "admin");
        assert_eq!(admin.uid, "uid-1");
        assert_eq!(admin.groups, vec!["system:masters", "ops"]);
        assert!(file.authenticate("plain").expect("bob").groups.is_empty());
        assert_eq!(
            file.authenticate("nogroup").expect("carol").groups,
            vec![""]
        );
        assert_eq!(file.authenticate("extra").expect("dave").groups, vec!["g"]);
        assert!(file.authenticate("admin-toke").is_none());
        assert!(file.authenticate("").is_none());
    }

    #[test]
    fn duplicates_later_wins_and_empty_tokens_skipped() {
        let file = parse("t,first,1\n,nobody,2\nt,second,3\n").expect("valid");
        assert_eq!(file.len(), 1);
        assert_eq!(file.authenticate("t").expect("user").name, "second");
    }

    #[test]
    fn short_line_names_file_and_line() {
        let err = parse("ok,user,1\n\nbad,user\n").expect_err("error");
        assert_eq!(
            err.to_string(),
            "token file '/etc/tokens.csv' line 3 must have at least 3 columns (token, user name, user uid), found 2"
        );
        let err = parse("a\"b,c,d\n").expect_err("error");
        assert_eq!(
            err.to_string(),
            "token file '/etc/tokens.csv' line 1: bare \" in non-quoted-field"
        );
    }

    #[test]
    fn debug_hides_tokens() {
        let file = parse("secret-token,u,1\n").expect("valid");
        assert!(!format!("{file:?}").contains("secret-token"));
    }
}
