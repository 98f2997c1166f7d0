//! Bounded polling: a condition is retried until it holds or a deadline passes, and the failure
//! names what was awaited and the last observation.

use std::time::{Duration, Instant};

/// Polls `check` every `interval` until it returns `Ok(Some(value))` or `timeout` passes.
/// `Ok(None)` means "not yet"; the `String` of `Err` is kept as the last observation.
pub fn until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("(no observation)");
    loop {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(observation) => last = observation,
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "timed out after {timeout:?} waiting for {what}; last observation: {last}"
            );
        }
        std::thread::sleep(interval);
    }
}
