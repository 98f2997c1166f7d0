//! Object keys: `(resource, namespace, name)`.

use std::fmt;

use crate::StoreError;

/// Where an object lives: `resource` is `"<group>/<plural>"` (`core` for the core group),
/// `namespace` is `""` for cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// `"<group>/<plural>"`, e.g. `certificates.k8s.io/certificatesigningrequests`.
    pub resource: String,
    /// The namespace, or `""` when cluster-scoped.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

// NUL separates the parts in the on-disk key; Kubernetes names can never contain it.
const SEPARATOR: char = '\0';

impl Key {
    /// A key from its three parts.
    pub fn new(
        resource: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Key {
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Checks that the key can be stored and read back unambiguously.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.resource.is_empty() {
            return Err(StoreError::InvalidKey("resource must not be empty".into()));
        }
        if self.name.is_empty() {
            return Err(StoreError::InvalidKey("name must not be empty".into()));
        }
        if [&self.resource, &self.namespace, &self.name]
            .iter()
            .any(|part| part.contains(SEPARATOR))
        {
            return Err(StoreError::InvalidKey(format!(
                "{self} contains a NUL character"
            )));
        }
        Ok(())
    }

    /// The on-disk form: the three parts joined by NUL.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}{SEPARATOR}{}{SEPARATOR}{}",
            self.resource, self.namespace, self.name
        )
    }

    /// Reads back what [`Key::encode`] wrote.
    pub(crate) fn decode(encoded: &str) -> Result<Key, StoreError> {
        let mut parts = encoded.splitn(3, SEPARATOR);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(resource), Some(namespace), Some(name)) => {
                let key = Key::new(resource, namespace, name);
                key.validate()
                    .map_err(|e| StoreError::Corrupt(format!("stored key {encoded:?}: {e}")))?;
                Ok(key)
            }
            _ => Err(StoreError::Corrupt(format!(
                "stored key {encoded:?} does not have three parts"
            ))),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.resource, self.name)
        } else {
            write!(f, "{} {}/{}", self.resource, self.namespace, self.name)
        }
    }
}

impl From<(&str, &str, &str)> for Key {
    fn from((resource, namespace, name): (&str, &str, &str)) -> Self {
        Key::new(resource, namespace, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips() {
        let key = Key::new(
            "certificates.k8s.io/certificatesigningrequests",
            "",
            "csr-1",
        );
        assert_eq!(Key::decode(&key.encode()).unwrap(), key);
        let namespaced = Key::new("core/secrets", "kube-system", "token");
        assert_eq!(Key::decode(&namespaced.encode()).unwrap(), namespaced);
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(Key::new("", "", "a").validate().is_err());
        assert!(Key::new("core/nodes", "", "").validate().is_err());
        assert!(Key::new("core/nodes", "a\0b", "n").validate().is_err());
        assert!(Key::decode("core/nodes\0only-two").is_err());
    }
}
