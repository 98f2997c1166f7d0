//! CPU time and memory of a process, read from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::time::Duration;

/// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every Linux ABI we run on.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&text).map(Duration::from_secs_f64)
}

/// utime (field 14) + stime (field 15); fields are counted after the `(comm)` part, which
/// may itself hold spaces.
fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3 (state): utime is field 14 -> index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// Memory figures of `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set now (VmRSS).
    pub rss_bytes: u64,
    /// Peak resident set (VmHWM).
    pub peak_rss_bytes: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_memory(&text)
}

/// Restarts `pid`'s peak resident set (VmHWM) from its resident set now, so a later
/// [`memory`] reports the peak of what happened in between (`clear_refs` value 5, Linux 4.0+).
pub fn reset_peak(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |name: &str| -> Option<u64> {
        status.lines().find_map(|line| {
            line.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some(Memory {
        rss_bytes: kib("VmRSS:")? * 1024,
        peak_rss_bytes: kib("VmHWM:")? * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_fields_after_a_comm_with_spaces() {
        let stat =
            "4242 (api server) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 130 0 0 20 0 8 0 1000 1 1";
        assert_eq!(parse_cpu_seconds(stat), Some(3.8));
    }

    #[test]
    fn memory_from_status() {
        let status = "Name:\tapiserver\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        let memory = parse_memory(status).unwrap();
        assert_eq!(memory.rss_bytes, 100 * 1024 * 1024);
        assert_eq!(memory.peak_rss_bytes, 200 * 1024 * 1024);
    }

    #[test]
    fn the_peak_restarts_from_now() {
        let pid = std::process::id();
        // 64 MiB touched and handed back (glibc maps a block this large on its own).
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        drop(big);
        let before = memory(pid).unwrap().peak_rss_bytes;
        reset_peak(pid).unwrap();
        let after = memory(pid).unwrap().peak_rss_bytes;
        assert!(
            after + (32 << 20) < before,
            "peak {before} -> {after} after reset"
        );
    }

    #[test]
    fn this_process_is_measurable() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_some());
        assert!(memory(pid).unwrap().peak_rss_bytes > 0);
    }
}
