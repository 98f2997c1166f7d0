//! Reading and writing whole kubeconfig files.

use std::path::{Path, PathBuf};

use crate::atomic::write_private_file;
use crate::error::KubeconfigError;
use crate::model::Kubeconfig;
use crate::{API_VERSION, KIND, data, yaml};

impl Kubeconfig {
    /// Reads and validates the file at `path`; relative paths inside it will be resolved
    /// against the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Kubeconfig, KubeconfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self::parse(&text, base_dir, Some(path))
    }

    /// Parses kubeconfig text; relative paths inside it will be resolved against `base_dir`.
    pub fn from_yaml(
        text: &str,
        base_dir: impl AsRef<Path>,
    ) -> Result<Kubeconfig, KubeconfigError> {
        Self::parse(text, base_dir.as_ref().to_path_buf(), None)
    }

    fn parse(
        text: &str,
        base_dir: PathBuf,
        origin: Option<&Path>,
    ) -> Result<Kubeconfig, KubeconfigError> {
        // An empty document is an empty config, as for kubectl.
        let parsed: Option<Kubeconfig> =
            yaml::parse(text).map_err(|fault| KubeconfigError::Yaml {
                path: origin.map(Path::to_path_buf),
                line: fault.line,
                column: fault.column,
                message: fault.message,
            })?;
        let mut config = parsed.unwrap_or_default();
        config.base_dir = base_dir;
        normalize_type(&mut config.api_version, "apiVersion", API_VERSION)?;
        normalize_type(&mut config.kind, "kind", KIND)?;
        config.check_data_fields()?;
        Ok(config)
    }

    /// The YAML text, in kubectl's field order.
    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        yaml::emit(self).map_err(|message| KubeconfigError::Serialize { message })
    }

    /// Writes the file atomically with mode 0600 (see [`crate::write_private_file`]).
    /// Relative paths are written as they are, so they keep their meaning only next to
    /// the same files; kubectl behaves the same way.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KubeconfigError> {
        let path = path.as_ref();
        let text = self.to_yaml()?;
        write_private_file(path, text.as_bytes()).map_err(|source| KubeconfigError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Folder that relative file references are resolved against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Changes the folder relative file references are resolved against.
    pub fn set_base_dir(&mut self, base_dir: impl Into<PathBuf>) {
        self.base_dir = base_dir.into();
    }

    /// kubectl refuses a file whose `-data` fields are not base64 when it loads it; so do we,
    /// rather than failing later at resolve time with a less obvious cause.
    fn check_data_fields(&self) -> Result<(), KubeconfigError> {
        for named in &self.clusters {
            check_base64(
                "cluster",
                &named.name,
                "certificate-authority-data",
                &named.cluster.certificate_authority_data,
            )?;
        }
        for named in &self.users {
            let user = &named.user;
            check_base64(
                "user",
                &named.name,
                "client-certificate-data",
                &user.client_certificate_data,
            )?;
            check_base64(
                "user",
                &named.name,
                "client-key-data",
                &user.client_key_data,
            )?;
        }
        Ok(())
    }
}

fn normalize_type(
    value: &mut String,
    field: &'static str,
    expected: &'static str,
) -> Result<(), KubeconfigError> {
    if value.is_empty() {
        *value = expected.to_owned();
        Ok(())
    } else if value == expected {
        Ok(())
    } else {
        Err(KubeconfigError::UnsupportedType {
            field,
            value: value.clone(),
            expected,
        })
    }
}

fn check_base64(
    kind: &'static str,
    name: &str,
    field: &'static str,
    value: &Option<String>,
) -> Result<(), KubeconfigError> {
    match value {
        Some(text) => {
            data::decode(text)
                .map(drop)
                .map_err(|source| KubeconfigError::InvalidBase64 {
                    kind,
                    name: name.to_owned(),
                    field,
                    source,
                })
        }
        None => Ok(()),
    }
}
