//! Go-style durations (`24h`, `90m`, `1h30m`, `8760h`, `600s`), as the Kubernetes flags spell
//! them, and a short human form for the progress view and the expiry table.

use std::time::Duration;

/// Go's `time.ParseDuration`, as the components' duration flags take it (`24h`, `1h30m`,
/// `600s`, `8760h0m0s`); shared with them so a value the lab accepts, they accept too.
pub use cli::{DurationError, parse_go_duration as parse};

/// `3d4h`, `2h5m`, `4m10s`, `12s`, `350ms`: the two largest units, like kubectl's AGE column.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) if m == 0 => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("600s").unwrap(), Duration::from_secs(600));
        assert_eq!(parse("8760h").unwrap(), Duration::from_secs(8760 * 3600));
        assert_eq!(parse("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_durations_with_the_input_named() {
        for bad in ["", "h", "10", "10d", "1h-5m", "ten minutes"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn human_form_keeps_two_units() {
        assert_eq!(human(Duration::from_millis(350)), "350ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(250)), "4m10s");
        assert_eq!(human(Duration::from_secs(7500)), "2h5m");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::from_secs(86400 * 3 + 3600 * 4 + 5)), "3d4h");
        assert_eq!(human(Duration::from_secs(86400 * 365)), "365d");
    }
}
