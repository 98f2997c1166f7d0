//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns real Kubernetes
//! prints for each kind (`pkg/printers/internalversion/printers.go`). Cells are generated as
//! with `Wide: true` (the server always does); kubectl hides priority-1 columns unless `-o wide`.

mod duration;
mod printers;

use serde::Serialize;
use serde_json::Value;

pub use duration::{human_duration, since, since_micro};

use crate::meta::{
    ListMeta, ObjectMeta, PartialObjectMetadata, Table, TableColumnDefinition, TableRow, Time,
};

/// What each row's `object` carries (`?includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// PartialObjectMetadata (the server default).
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the query value; empty means the default (`Metadata`).
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// A kind that has a server-side printer.
pub trait Printable: Serialize {
    fn columns() -> Vec<TableColumnDefinition>;
    fn cells(&self, now: &Time) -> Vec<Value>;
    fn metadata(&self) -> &ObjectMeta;
}

/// Builds the Table for `items` (a list response or a single object) as of `now`.
pub fn build<T: Printable>(
    items: &[T],
    include: IncludeObject,
    list_meta: ListMeta,
    now: &Time,
) -> Table {
    let rows = items
        .iter()
        .map(|item| TableRow {
            cells: item.cells(now),
            conditions: Vec::new(),
            object: match include {
                IncludeObject::None => None,
                IncludeObject::Metadata => serde_json::to_value(PartialObjectMetadata {
                    metadata: item.metadata().clone(),
                })
                .ok(),
                IncludeObject::Object => serde_json::to_value(item).ok(),
            },
        })
        .collect();
    Table {
        metadata: list_meta,
        column_definitions: T::columns(),
        rows,
    }
}

/// Error of [`build_for_resource`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    #[error("no table printer for resource {0:?}")]
    UnknownResource(String),
    #[error("failed to read stored object for printing: {0}")]
    Json(#[from] serde_json::Error),
}

/// Builds a Table from stored JSON objects of `"<group>/<plural>"` (`core` for the core group,
/// as the store names resources).
pub fn build_for_resource(
    resource: &str,
    items: &[Value],
    include: IncludeObject,
    list_meta: ListMeta,
    now: &Time,
) -> Result<Table, TableError> {
    use crate::{certificates, coordination, core, rbac, revocation};
    fn typed<T: Printable + serde::de::DeserializeOwned>(
        items: &[Value],
        include: IncludeObject,
        list_meta: ListMeta,
        now: &Time,
    ) -> Result<Table, TableError> {
        let typed: Vec<T> = items
            .iter()
            .map(|v| T::deserialize(v))
            .collect::<Result<_, _>>()?;
        Ok(build(&typed, include, list_meta, now))
    }
    match resource {
        "certificates.k8s.io/certificatesigningrequests" => {
            typed::<certificates::v1::CertificateSigningRequest>(items, include, list_meta, now)
        }
        "rbac.authorization.k8s.io/clusterroles" => {
            typed::<rbac::v1::ClusterRole>(items, include, list_meta, now)
        }
        "rbac.authorization.k8s.io/clusterrolebindings" => {
            typed::<rbac::v1::ClusterRoleBinding>(items, include, list_meta, now)
        }
        "rbac.authorization.k8s.io/roles" => {
            typed::<rbac::v1::Role>(items, include, list_meta, now)
        }
        "rbac.authorization.k8s.io/rolebindings" => {
            typed::<rbac::v1::RoleBinding>(items, include, list_meta, now)
        }
        "core/nodes" => typed::<core::v1::Node>(items, include, list_meta, now),
        "core/pods" => typed::<core::v1::Pod>(items, include, list_meta, now),
        "core/secrets" => typed::<core::v1::Secret>(items, include, list_meta, now),
        "core/configmaps" => typed::<core::v1::ConfigMap>(items, include, list_meta, now),
        "core/namespaces" => typed::<core::v1::Namespace>(items, include, list_meta, now),
        "core/events" => typed::<core::v1::Event>(items, include, list_meta, now),
        "coordination.k8s.io/leases" => {
            typed::<coordination::v1::Lease>(items, include, list_meta, now)
        }
        "revocation.kubelet-tls-bootstrap.io/certificaterevocations" => {
            typed::<revocation::v1alpha1::CertificateRevocation>(items, include, list_meta, now)
        }
        other => Err(TableError::UnknownResource(other.to_string())),
    }
}

/// One column definition.
pub(crate) fn column(
    name: &str,
    type_: &str,
    format: &str,
    priority: i32,
    description: &str,
) -> TableColumnDefinition {
    TableColumnDefinition {
        name: name.to_string(),
        type_: type_.to_string(),
        format: format.to_string(),
        description: description.to_string(),
        priority,
    }
}
