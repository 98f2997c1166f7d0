//! Integration tests of the client against a real apiserver on loopback (one test binary).

mod crud;
mod resilience;
mod support;
mod tls_settings;
mod watch;
