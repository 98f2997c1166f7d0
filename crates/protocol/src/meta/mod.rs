//! `meta.k8s.io/v1`: object and list metadata, times, Status, DeleteOptions, watch events,
//! Tables and PartialObjectMetadata.

mod delete_options;
mod duration;
pub mod names;
mod object_meta;
mod status;
mod table;
mod time;

pub use delete_options::{DeleteOptions, Preconditions, WatchEvent};
pub use duration::human_duration;
pub use object_meta::{
    FieldsV1, LabelSelector, LabelSelectorRequirement, ListMeta, ManagedFieldsEntry, ObjectMeta,
    OwnerReference,
};
pub use status::{Status, StatusCause, StatusDetails};
pub use table::{PartialObjectMetadata, Table, TableColumnDefinition, TableRow};
pub use time::{MicroTime, Time};

impl crate::resource::Typed for DeleteOptions {
    const API_VERSION: &'static str = "meta.k8s.io/v1";
    const KIND: &'static str = "DeleteOptions";

    fn accepts_api_version(_api_version: &str) -> bool {
        // Registered in every group version upstream; clients send their own.
        true
    }
}
