//! `--controllers`: which controllers run, with kube-controller-manager's rules (`*` for the
//! default set, `name` to enable, `-name` to disable, first match wins).

/// The controllers this program implements.
pub const CSR_APPROVING: &str = "csrapproving";
pub const CSR_SIGNING: &str = "csrsigning";
pub const CSR_CLEANER: &str = "csrcleaner";
/// Ours: the work queue that revokes the client certificates a renewal superseded; it runs
/// with csrsigning when `--supersede-rotated-client-certificates-after` is set.
pub const CSR_SUPERSEDE: &str = "csrsupersede";
pub const CLUSTERROLE_AGGREGATION: &str = "clusterrole-aggregation";
/// Upstream's: deletes expired bootstrap tokens; ours also retires single-use ones.
pub const TOKEN_CLEANER: &str = "tokencleaner";
/// Upstream's: `kube-root-ca.crt` in every namespace, with `--root-ca-file` or else the
/// kubeconfig's CA (it does not run when there is neither).
pub const ROOT_CA_CERT_PUBLISHER: &str = "root-ca-cert-publisher";
const IMPLEMENTED: [&str; 6] = [
    CSR_APPROVING,
    CSR_SIGNING,
    CSR_CLEANER,
    CLUSTERROLE_AGGREGATION,
    TOKEN_CLEANER,
    ROOT_CA_CERT_PUBLISHER,
];

/// Upstream's `ControllersDisabledByDefault` that we implement: `*` does not turn them on.
const DISABLED_BY_DEFAULT: [&str; 1] = [TOKEN_CLEANER];

/// kube-controller-manager's other controller names: accepted (kubeadm passes
/// `--controllers=*,bootstrapsigner,tokencleaner`) and reported as not run here.
const UPSTREAM_ONLY: &[&str] = &[
    "attachdetach",
    "bootstrapsigner",
    "cloud-node-lifecycle",
    "cronjob",
    "daemonset",
    "deployment",
    "disruption",
    "endpoint",
    "endpointslice",
    "endpointslicemirroring",
    "ephemeral-volume",
    "garbagecollector",
    "horizontalpodautoscaling",
    "job",
    "legacy-serviceaccount-token-cleaner",
    "namespace",
    "nodeipam",
    "nodelifecycle",
    "persistentvolume-binder",
    "persistentvolume-expander",
    "podgc",
    "pv-protection",
    "pvc-protection",
    "replicaset",
    "replicationcontroller",
    "resourcequota",
    "route",
    "service",
    "serviceaccount",
    "serviceaccount-token",
    "statefulset",
    "storage-version-gc",
    "ttl",
    "ttl-after-finished",
];

/// A name in `--controllers` that is not a controller (upstream's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not in the list of known controllers")]
pub struct UnknownController(pub String);

/// Which of our controllers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnabledControllers {
    pub approving: bool,
    pub signing: bool,
    pub cleaner: bool,
    pub aggregation: bool,
    pub token_cleaner: bool,
    /// Runs when there is a bundle to publish: `--root-ca-file` or the kubeconfig's CA.
    pub root_ca_publisher: bool,
}

impl EnabledControllers {
    /// What `*` runs, upstream's default: everything but `tokencleaner`.
    pub const DEFAULT: EnabledControllers = EnabledControllers {
        approving: true,
        signing: true,
        cleaner: true,
        aggregation: true,
        token_cleaner: false,
        root_ca_publisher: true,
    };

    /// Reads the `--controllers` list; also returns the named upstream controllers that were
    /// asked for explicitly but are not implemented here.
    pub fn parse(list: &[String]) -> Result<(EnabledControllers, Vec<String>), UnknownController> {
        let mut not_here = Vec::new();
        for entry in list {
            let name = entry.strip_prefix('-').unwrap_or(entry);
            if entry == "*" || IMPLEMENTED.contains(&name) {
                continue;
            }
            if UPSTREAM_ONLY.contains(&name) {
                if !entry.starts_with('-') {
                    not_here.push(name.to_string());
                }
                continue;
            }
            return Err(UnknownController(entry.clone()));
        }
        let enabled = |name: &str| is_enabled(name, list);
        Ok((
            EnabledControllers {
                approving: enabled(CSR_APPROVING),
                signing: enabled(CSR_SIGNING),
                cleaner: enabled(CSR_CLEANER),
                aggregation: enabled(CLUSTERROLE_AGGREGATION),
                token_cleaner: enabled(TOKEN_CLEANER),
                root_ca_publisher: enabled(ROOT_CA_CERT_PUBLISHER),
            },
            not_here,
        ))
    }
}

/// Upstream's `IsControllerEnabled`.
fn is_enabled(name: &str, list: &[String]) -> bool {
    let mut star = false;
    for entry in list {
        if entry == name {
            return true;
        }
        if entry.strip_prefix('-') == Some(name) {
            return false;
        }
        if entry == "*" {
            star = true;
        }
    }
    star && !DISABLED_BY_DEFAULT.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<(EnabledControllers, Vec<String>), UnknownController> {
        EnabledControllers::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn star_enables_all_and_minus_disables_one() {
        assert_eq!(parse(&["*"]).unwrap().0, EnabledControllers::DEFAULT);
        let (e, _) = parse(&["*", "-csrcleaner"]).unwrap();
        assert_eq!(
            e,
            EnabledControllers {
                approving: true,
                signing: true,
                cleaner: false,
                aggregation: true,
                token_cleaner: false,
                root_ca_publisher: true,
            }
        );
        let (e, _) = parse(&["csrsigning"]).unwrap();
        assert_eq!(
            e,
            EnabledControllers {
                approving: false,
                signing: true,
                cleaner: false,
                aggregation: false,
                token_cleaner: false,
                root_ca_publisher: false,
            }
        );
        // First match wins, as upstream.
        assert!(parse(&["csrsigning", "-csrsigning"]).unwrap().0.signing);
        assert!(!parse(&["-csrsigning", "*"]).unwrap().0.signing);
    }

    #[test]
    fn tokencleaner_runs_only_when_named_as_upstream() {
        assert!(!parse(&["*"]).unwrap().0.token_cleaner);
        assert!(parse(&["*", "tokencleaner"]).unwrap().0.token_cleaner);
        assert!(parse(&["tokencleaner"]).unwrap().0.token_cleaner);
        assert!(!parse(&["-tokencleaner", "*"]).unwrap().0.token_cleaner);
    }

    #[test]
    fn root_ca_cert_publisher_is_on_by_default_as_upstream() {
        assert!(parse(&["*"]).unwrap().0.root_ca_publisher);
        let (e, not_here) = parse(&["*", "-root-ca-cert-publisher"]).unwrap();
        assert!(!e.root_ca_publisher);
        assert!(not_here.is_empty());
        let (e, not_here) = parse(&["root-ca-cert-publisher"]).unwrap();
        assert!(e.root_ca_publisher && !e.signing);
        assert!(not_here.is_empty(), "implemented here now");
    }

    #[test]
    fn upstream_names_are_accepted_and_reported_unknown_ones_refused() {
        let (e, not_here) = parse(&["*", "bootstrapsigner", "tokencleaner", "-ttl"]).unwrap();
        assert_eq!(
            e,
            EnabledControllers {
                token_cleaner: true,
                ..EnabledControllers::DEFAULT
            }
        );
        assert_eq!(not_here, ["bootstrapsigner"]);
        assert_eq!(
            parse(&["*", "csrfoo"]).unwrap_err().to_string(),
            "\"csrfoo\" is not in the list of known controllers"
        );
    }
}
