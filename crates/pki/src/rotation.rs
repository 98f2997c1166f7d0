//! When to rotate a certificate: client-go's certificate manager picks a uniformly random
//! point between 70 % and 90 % of the lifetime (`wait.Jitter(0.8 d... )`, i.e.
//! `Jitter(d, 0.2) - 0.3 d`).

use std::time::{Duration, SystemTime};

/// A deadline in [NotBefore + 70 %, NotBefore + 90 %) of the lifetime. A certificate whose
/// NotAfter is not after its NotBefore is due at once (its NotBefore).
pub fn deadline(
    not_before: SystemTime,
    not_after: SystemTime,
    rng: &mut impl rand::Rng,
) -> SystemTime {
    let Ok(total) = not_after.duration_since(not_before) else {
        return not_before;
    };
    let fraction = 0.7 + 0.2 * rng.random::<f64>();
    not_before + Duration::from_secs_f64(total.as_secs_f64() * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn deadline_stays_between_70_and_90_percent() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let nb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let life = Duration::from_secs(8760 * 3600);
        let (lo, hi) = (nb + life.mul_f64(0.7), nb + life.mul_f64(0.9));
        let mut below_80 = 0;
        for _ in 0..2000 {
            let d = deadline(nb, nb + life, &mut rng);
            assert!(d >= lo && d < hi, "{d:?}");
            if d < nb + life.mul_f64(0.8) {
                below_80 += 1;
            }
        }
        // Uniform: about half land in each half of the window.
        assert!((800..1200).contains(&below_80), "{below_80}");
    }

    #[test]
    fn inverted_validity_rotates_now() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(deadline(t, t - Duration::from_secs(1), &mut rng), t);
    }
}
