//! `meta.k8s.io/v1`: object and list metadata, times, Status, DeleteOptions, watch events,
//! Tables and PartialObjectMetadata.

mod object_meta;
mod status;
mod time;

pub use object_meta::{
    FieldsV1, LabelSelector, LabelSelectorRequirement, ListMeta, ManagedFieldsEntry, ObjectMeta,
    OwnerReference,
};
pub use status::{Status, StatusCause, StatusDetails};
pub use time::{MicroTime, Time};
