//! Retry delays as the kubelet's: the certificate manager's `ExponentialBackoff{2s, x2,
//! jitter 0.1, 5 steps}` followed by a 32 s poll, and the lease controller's 200 ms doubling
//! to 7 s.

use std::time::Duration;

use rand::Rng as _;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    next: Duration,
}

impl Backoff {
    /// 2, 4, 8, 16, 32 s (each +0-10 %), then every 32 s.
    pub fn certificate() -> Backoff {
        Backoff::new(Duration::from_secs(2), Duration::from_secs(32), 0.1)
    }

    /// 200 ms doubling to 7 s, for heartbeats and node registration.
    pub fn heartbeat() -> Backoff {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(7), 0.0)
    }

    fn new(initial: Duration, max: Duration, jitter: f64) -> Backoff {
        Backoff {
            initial,
            max,
            jitter,
            next: initial,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        if self.jitter > 0.0 {
            base.mul_f64(1.0 + self.jitter * rand::rng().random::<f64>())
        } else {
            base
        }
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_backoff_is_the_upstream_sequence() {
        let mut backoff = Backoff::certificate();
        for expected in [2u64, 4, 8, 16, 32, 32, 32] {
            let d = backoff.next_delay();
            let base = Duration::from_secs(expected);
            assert!(d >= base && d <= base.mul_f64(1.1), "{d:?} vs {base:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() < Duration::from_secs(3));
    }

    #[test]
    fn heartbeat_backoff_caps_at_seven_seconds() {
        let mut backoff = Backoff::heartbeat();
        let delays: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 7000, 7000]);
    }
}
