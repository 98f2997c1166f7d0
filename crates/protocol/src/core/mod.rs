//! The core (legacy, `/api/v1`) group.

pub mod v1;
