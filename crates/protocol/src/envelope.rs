//! placeholder
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {}
