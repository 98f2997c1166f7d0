//! Go-style durations (`24h`, `90m`, `1h30m`, `8760h`, `600s`), as the Kubernetes flags spell
//! them, and a short human form for the progress view and the expiry table.

/// Go's `time.ParseDuration`, as the components' duration flags take it (`24h`, `1h30m`,
/// `600s`, `8760h0m0s`); shared with them so a value the lab accepts, they accept too.
pub use cli::{DurationError, parse_go_duration as parse};

/// `3d4h`, `2h5m`, `4m10s`, `12s`, `350ms`: the two largest units, like kubectl's AGE column.
pub use protocol::meta::human_duration as human;

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
}
