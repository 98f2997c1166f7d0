//! Loopback ports for the lab's programs: consecutive from a base port, or free ones picked by
//! the kernel.

use std::net::{Ipv4Addr, TcpListener};

/// `count` ports: `base, base+1, ...` when a base is given, otherwise free loopback ports.
/// Free ports are all held open until every one is chosen, so none is handed out twice.
pub fn pick(count: usize, base: Option<u16>) -> anyhow::Result<Vec<u16>> {
    if let Some(base) = base {
        let last = usize::from(base) + count;
        anyhow::ensure!(
            last <= usize::from(u16::MAX),
            "--base-port {base} leaves no room for {count} ports"
        );
        return Ok((0..count).map(|i| base + i as u16).collect());
    }
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("cannot find free loopback ports: {e}"))?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ports_are_consecutive_and_free_ports_distinct() {
        assert_eq!(pick(3, Some(20000)).unwrap(), [20000, 20001, 20002]);
        assert!(pick(10, Some(65530)).is_err());
        let mut free = pick(8, None).unwrap();
        free.sort();
        free.dedup();
        assert_eq!(free.len(), 8);
    }
}
