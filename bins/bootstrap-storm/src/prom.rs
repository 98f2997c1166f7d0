//! The apiserver's `/metrics` text: requests by verb and resource, TLS handshakes.

use std::collections::BTreeMap;

/// Counters read from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// `"<VERB> <resource>"` (code summed over) -> count.
    pub requests: BTreeMap<String, f64>,
    /// Successful TLS handshakes on the secure port.
    pub tls_handshakes: f64,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            if let Some(labels) = series.strip_prefix("apiserver_request_total{") {
                let verb = label(labels, "verb").unwrap_or_default();
                let resource = label(labels, "resource").unwrap_or_default();
                let key = if resource.is_empty() {
                    verb.to_string()
                } else {
                    format!("{verb} {resource}")
                };
                *scrape.requests.entry(key).or_default() += value;
            } else if let Some(labels) = series.strip_prefix("apiserver_tls_handshakes_total{")
                && label(labels, "result") == Some("ok")
            {
                scrape.tls_handshakes += value;
            }
        }
        scrape
    }

    /// What happened between `before` and `self` (kinds with no new requests left out).
    pub fn since(&self, before: &Scrape) -> Scrape {
        let requests = self
            .requests
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v - before.requests.get(k).copied().unwrap_or(0.0),
                )
            })
            .filter(|(_, v)| *v > 0.0)
            .collect();
        Scrape {
            requests,
            tls_handshakes: self.tls_handshakes - before.tls_handshakes,
        }
    }

    pub fn total_requests(&self) -> f64 {
        self.requests.values().sum()
    }
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE apiserver_request counter
apiserver_request_total{verb="CREATE",resource="certificatesigningrequests",code="201"} 2
apiserver_request_total{verb="GET",resource="",code="200"} 1
apiserver_tls_handshakes_total{result="ok"} 3
apiserver_tls_handshakes_total{result="failed"} 1
"#;
    const AFTER: &str = r#"apiserver_request_total{verb="CREATE",resource="certificatesigningrequests",code="201"} 7
apiserver_request_total{verb="CREATE",resource="certificatesigningrequests",code="409"} 1
apiserver_request_total{verb="GET",resource="",code="200"} 1
apiserver_request_total{verb="WATCH",resource="certificatesigningrequests",code="200"} 4
apiserver_tls_handshakes_total{result="ok"} 10
"#;

    #[test]
    fn deltas_by_kind() {
        let delta = Scrape::parse(AFTER).since(&Scrape::parse(BEFORE));
        assert_eq!(delta.requests["CREATE certificatesigningrequests"], 6.0);
        assert_eq!(delta.requests["WATCH certificatesigningrequests"], 4.0);
        assert!(!delta.requests.contains_key("GET"));
        assert_eq!(delta.tls_handshakes, 7.0);
        assert_eq!(delta.total_requests(), 10.0);
    }
}
