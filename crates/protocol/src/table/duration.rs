//! kubectl's human durations (`apimachinery/pkg/util/duration.HumanDuration`).

use crate::meta::{MicroTime, Time};

/// Formats a duration in seconds the way `duration.HumanDuration` does
/// (`45s`, `5m3s`, `3h10m`, `2d5h`, `400d`, `3y20d`).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        let years = hours / 24 / 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: age of a timestamp, `<unknown>` when absent.
pub fn since(timestamp: Option<&Time>, now: &Time) -> String {
    match timestamp {
        Some(t) if !t.is_zero() => human_duration((now.0 - t.0).whole_seconds()),
        _ => "<unknown>".to_string(),
    }
}

/// `translateMicroTimestampSince`.
pub fn since_micro(timestamp: Option<&MicroTime>, now: &Time) -> String {
    match timestamp {
        Some(t) if !t.is_zero() => human_duration((now.0 - t.0).whole_seconds()),
        _ => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_upstream_examples() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (303, "5m3s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 600, "3h10m"),
            (8 * 3600, "8h"),
            (24 * 3600, "24h"),
            (47 * 3600 + 3599, "47h"),
            (48 * 3600, "2d"),
            (53 * 3600, "2d5h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (750 * 86400, "2y20d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn since_unknown_for_absent() {
        let now = Time::now();
        assert_eq!(since(None, &now), "<unknown>");
        assert_eq!(since(Some(&Time::zero()), &now), "<unknown>");
    }
}
