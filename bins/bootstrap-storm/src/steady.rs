//! The steady phase: every joined node renews its Lease every `interval` (as the kubelet does
//! every 10 s), spread evenly, for `duration`; each renewal is one timed `Heartbeat::renew_lease`.

use std::time::{Duration, Instant};

use kubelet::node::Heartbeat;
use rand::Rng as _;

#[derive(Default)]
pub struct SteadyResult {
    /// Seconds per successful renewal.
    pub latencies: Vec<f64>,
    pub errors: usize,
    pub elapsed: Duration,
    /// The nodes, still connected: what the apiserver holds in the steady state is measured
    /// before they go.
    pub heartbeats: Vec<Heartbeat>,
}

pub async fn run(
    heartbeats: Vec<Heartbeat>,
    interval: Duration,
    duration: Duration,
) -> SteadyResult {
    let started = Instant::now();
    let end = tokio::time::Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut heartbeat in heartbeats {
        // A random phase so the renewals spread over the interval, as real nodes' do.
        let phase = interval.mul_f64(rand::rng().random_range(0.0..1.0));
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut next = tokio::time::Instant::now() + phase;
            while next < end {
                tokio::time::sleep_until(next).await;
                let begun = Instant::now();
                match heartbeat.renew_lease().await {
                    Ok(()) => latencies.push(begun.elapsed().as_secs_f64()),
                    Err(_) => errors += 1,
                }
                next += interval;
            }
            (latencies, errors, heartbeat)
        });
    }
    let mut result = SteadyResult::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((latencies, errors, heartbeat)) => {
                result.latencies.extend(latencies);
                result.errors += errors;
                result.heartbeats.push(heartbeat);
            }
            Err(_) => result.errors += 1,
        }
    }
    result.elapsed = started.elapsed();
    result
}
