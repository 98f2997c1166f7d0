//! serde adapters for the Go encodings Kubernetes uses.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Go `[]byte`: standard base64 with padding; `null` reads as empty.
pub mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Vec::new()),
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map_err(|e| D::Error::custom(format!("illegal base64 data: {e}"))),
        }
    }
}

/// Go `map[string][]byte` (Secret data).
pub mod base64_map {
    use super::*;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(map.iter().map(|(k, v)| (k, STANDARD.encode(v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let raw = Option::<BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
        raw.unwrap_or_default()
            .into_iter()
            .map(|(key, value)| {
                let bytes = STANDARD
                    .decode(value.unwrap_or_default().as_bytes())
                    .map_err(|e| {
                        D::Error::custom(format!("illegal base64 data at key {key:?}: {e}"))
                    })?;
                Ok((key, bytes))
            })
            .collect()
    }
}

/// Reads `null` as the type's default (Go decodes `null` into a zero slice/map/string).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub fn is_false(value: &bool) -> bool {
    !*value
}

pub fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

pub fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}
