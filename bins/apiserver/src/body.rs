//! The one HTTP body type every handler answers with, so plain and streaming (watch) responses mix.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use std::convert::Infallible;

/// Response body of every handler: a boxed body so watch streams and full bodies share one type.
pub type Body = BoxBody<Bytes, Infallible>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}
