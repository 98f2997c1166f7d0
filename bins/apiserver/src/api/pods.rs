//! Pods (upstream's `podStrategy`, its defaulting, and the admission plugins every cluster runs
//! that write into a pod: Priority and DefaultTolerationSeconds).
//!
//! Nothing here schedules or runs a pod: a pod is stored `Pending` and stays so until a client
//! writes its status through `pods/status`. Deleting one removes it at once, since no kubelet
//! here would confirm a graceful deletion.

use protocol::Resource;
use protocol::core::v1::{self as core, Container, PodSpec, PodStatus, Toleration, nano_value};
use protocol::meta::{Status, StatusCause};
use serde_json::Value;

use super::names::{self, NameRule};
use super::strategies::split_spec_and_status;
use super::{Strategy, object};

/// What upstream's update validation lists as the changes a pod's spec allows.
const IMMUTABLE_SPEC: &str = "pod updates may not change fields other than \
    `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
    `spec.tolerations` (only additions to existing tolerations),\
    `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// The tolerations DefaultTolerationSeconds adds, so a pod is evicted 5 minutes after its node
/// stops reporting.
const DEFAULT_TOLERATION_KEYS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

#[derive(Debug, Default, Clone, Copy)]
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn prepare_create(&self, obj: &mut Value, _user: &rbac::UserInfo) -> Result<(), Status> {
        let mut pod = decode(obj)?;
        set_defaults(&mut pod.spec);
        admit_defaults(&mut pod.spec);
        pod.status = PodStatus {
            phase: "Pending".to_string(),
            qos_class: pod.qos_class().to_string(),
            ..Default::default()
        };
        write_back(obj, &pod)
    }

    fn validate_create(&self, obj: &Value) -> Result<(), Status> {
        let pod = decode(obj)?;
        invalid_if_any(&pod, validate_spec(&pod.spec))
    }

    fn prepare_update(
        &self,
        subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        split_spec_and_status(subresource, new, old);
        if !subresource.is_empty() {
            return Ok(());
        }
        // Upstream defaults every decoded body, so a field an update leaves out reads as its
        // default, not as a change.
        let mut pod = decode(new)?;
        set_defaults(&mut pod.spec);
        write_back(new, &pod)
    }

    fn validate_update(&self, subresource: &str, new: &Value, old: &Value) -> Result<(), Status> {
        if !subresource.is_empty() {
            return Ok(());
        }
        let (new_pod, old_pod) = (decode(new)?, decode(old)?);
        let mut causes = validate_spec(&new_pod.spec);
        if causes.is_empty() && !only_mutable_fields_changed(&new_pod.spec, &old_pod.spec) {
            causes.push(StatusCause::forbidden("spec", IMMUTABLE_SPEC));
        }
        invalid_if_any(&new_pod, causes)
    }

    fn subresources(&self) -> &'static [&'static str] {
        &["status"]
    }
}

fn decode(obj: &Value) -> Result<core::Pod, Status> {
    object::decode(obj)
}

fn write_back(obj: &mut Value, pod: &core::Pod) -> Result<(), Status> {
    object::write_spec_and_status(obj, &pod.spec, &pod.status)
}

fn invalid_if_any(pod: &core::Pod, causes: Vec<StatusCause>) -> Result<(), Status> {
    object::invalid_if_any(core::GROUP, core::Pod::KIND, &pod.metadata.name, causes)
}

/// `SetDefaults_PodSpec` and `SetDefaults_Container`.
fn set_defaults(spec: &mut PodSpec) {
    let default = |field: &mut String, value: &str| {
        if field.is_empty() {
            *field = value.to_string();
        }
    };
    default(&mut spec.restart_policy, "Always");
    default(&mut spec.dns_policy, "ClusterFirst");
    default(&mut spec.scheduler_name, "default-scheduler");
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.enable_service_links.get_or_insert(true);
    for container in spec.containers.iter_mut().chain(&mut spec.init_containers) {
        default(
            &mut container.termination_message_path,
            "/dev/termination-log",
        );
        default(&mut container.termination_message_policy, "File");
        if container.image_pull_policy.is_empty() {
            container.image_pull_policy = default_pull_policy(&container.image).to_string();
        }
        for port in &mut container.ports {
            default(&mut port.protocol, "TCP");
        }
        // A limit without a request requests the limit.
        let resources = &mut container.resources;
        for (name, limit) in &resources.limits {
            resources
                .requests
                .entry(name.clone())
                .or_insert_with(|| limit.clone());
        }
    }
}

/// What the Priority and DefaultTolerationSeconds admission plugins add to a new pod.
fn admit_defaults(spec: &mut PodSpec) {
    spec.priority.get_or_insert(0);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".to_string());
    for key in DEFAULT_TOLERATION_KEYS {
        let tolerated = spec.tolerations.iter().any(|t| {
            (t.key == key || t.key.is_empty() && t.operator == "Exists")
                && matches!(t.effect.as_str(), "" | "NoExecute")
        });
        if !tolerated {
            spec.tolerations.push(Toleration {
                key: key.to_string(),
                operator: "Exists".to_string(),
                effect: "NoExecute".to_string(),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                ..Default::default()
            });
        }
    }
}

/// `Always` for `:latest` or no tag, else `IfNotPresent` (a digest pins the image).
fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

/// The parts of `ValidatePodSpec` that the fields we keep can break.
fn validate_spec(spec: &PodSpec) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    if spec.containers.is_empty() {
        causes.push(StatusCause::required("spec.containers", ""));
    }
    let mut seen: Vec<&str> = Vec::new();
    let all = [
        ("spec.containers", &spec.containers),
        ("spec.initContainers", &spec.init_containers),
    ];
    for (list, containers) in all {
        for (i, container) in containers.iter().enumerate() {
            let field = format!("{list}[{i}]");
            if container.name.is_empty() {
                causes.push(StatusCause::required(&format!("{field}.name"), ""));
            } else if seen.contains(&container.name.as_str()) {
                causes.push(StatusCause {
                    reason: "FieldValueDuplicate".to_string(),
                    message: format!("Duplicate value: {:?}", container.name),
                    field: format!("{field}.name"),
                });
            } else {
                causes.extend(names::validate(
                    NameRule::Dns1123Label,
                    &container.name,
                    &format!("{field}.name"),
                ));
                seen.push(&container.name);
            }
            validate_container(container, &field, &mut causes);
        }
    }
    let one_of = |value: &str, field: &str, supported: &[&str], causes: &mut Vec<StatusCause>| {
        if !supported.contains(&value) {
            causes.push(StatusCause::not_supported(field, value, supported));
        }
    };
    one_of(
        &spec.restart_policy,
        "spec.restartPolicy",
        &["Always", "OnFailure", "Never"],
        &mut causes,
    );
    one_of(
        &spec.dns_policy,
        "spec.dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &mut causes,
    );
    if !spec.node_name.is_empty() {
        causes.extend(names::validate(
            NameRule::Dns1123Subdomain,
            &spec.node_name,
            "spec.nodeName",
        ));
    }
    for (i, toleration) in spec.tolerations.iter().enumerate() {
        let field = format!("spec.tolerations[{i}]");
        one_of(
            &toleration.operator,
            &format!("{field}.operator"),
            &["Equal", "Exists", ""],
            &mut causes,
        );
        one_of(
            &toleration.effect,
            &format!("{field}.effect"),
            &["NoSchedule", "PreferNoSchedule", "NoExecute", ""],
            &mut causes,
        );
    }
    causes
}

fn validate_container(container: &Container, field: &str, causes: &mut Vec<StatusCause>) {
    if container.image.trim().is_empty() {
        causes.push(StatusCause::required(&format!("{field}.image"), ""));
    }
    let policies = ["Always", "IfNotPresent", "Never"];
    if !policies.contains(&container.image_pull_policy.as_str()) {
        causes.push(StatusCause::not_supported(
            &format!("{field}.imagePullPolicy"),
            &container.image_pull_policy,
            &policies,
        ));
    }
    for (i, port) in container.ports.iter().enumerate() {
        let port_field = format!("{field}.ports[{i}]");
        if !(1..=65535).contains(&port.container_port) {
            causes.push(StatusCause::invalid_value(
                &format!("{port_field}.containerPort"),
                &port.container_port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let protocols = ["SCTP", "TCP", "UDP"];
        if !protocols.contains(&port.protocol.as_str()) {
            causes.push(StatusCause::not_supported(
                &format!("{port_field}.protocol"),
                &port.protocol,
                &protocols,
            ));
        }
    }
    for (i, env) in container.env.iter().enumerate() {
        if env.name.is_empty() {
            causes.push(StatusCause::required(&format!("{field}.env[{i}].name"), ""));
        }
    }
    let resources = &container.resources;
    for (kind, quantities) in [
        ("limits", &resources.limits),
        ("requests", &resources.requests),
    ] {
        for (name, quantity) in quantities {
            let quantity_field = format!("{field}.resources.{kind}[{name}]");
            match nano_value(quantity) {
                None => causes.push(StatusCause::invalid_value(
                    &quantity_field,
                    &quantity.string,
                    "quantities must match the regular expression \
                     '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )),
                Some(value) if value < 0 => causes.push(StatusCause::invalid_value(
                    &quantity_field,
                    &quantity.string,
                    "must be greater than or equal to 0",
                )),
                Some(_) => {}
            }
        }
    }
    for (name, request) in &resources.requests {
        let Some(limit) = resources.limits.get(name) else {
            continue;
        };
        if let (Some(r), Some(l)) = (nano_value(request), nano_value(limit))
            && r > l
        {
            causes.push(StatusCause::invalid_value(
                &format!("{field}.resources.requests"),
                &request.string,
                &format!(
                    "must be less than or equal to {name} limit of {}",
                    limit.string
                ),
            ));
        }
    }
}

/// Whether `new` differs from `old` only where upstream lets a pod's spec change: container
/// images, `activeDeadlineSeconds` (set or lowered), and tolerations added.
fn only_mutable_fields_changed(new: &PodSpec, old: &PodSpec) -> bool {
    let mut comparable = new.clone();
    let same_names = |a: &[Container], b: &[Container]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.name == y.name)
    };
    if !same_names(&new.containers, &old.containers)
        || !same_names(&new.init_containers, &old.init_containers)
    {
        return false;
    }
    for (container, before) in comparable
        .containers
        .iter_mut()
        .chain(&mut comparable.init_containers)
        .zip(old.containers.iter().chain(&old.init_containers))
    {
        container.image = before.image.clone();
    }
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), Some(o)) if n > 0 && n <= o => {}
        (Some(n), None) if n > 0 => {}
        (n, o) if n == o => {}
        _ => return false,
    }
    comparable.active_deadline_seconds = old.active_deadline_seconds;
    if !old.tolerations.iter().all(|t| new.tolerations.contains(t)) {
        return false;
    }
    comparable.tolerations = old.tolerations.clone();
    comparable == *old
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created(body: Value) -> Value {
        let mut obj = body;
        PodStrategy
            .prepare_create(&mut obj, &rbac::UserInfo::default())
            .unwrap();
        obj
    }

    #[test]
    fn create_sets_defaults_and_a_pending_status() {
        let pod = created(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }));
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            spec["containers"][0]["resources"]["requests"],
            json!({"cpu": "1", "memory": "1Gi"})
        );
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(spec["tolerations"][1]["tolerationSeconds"], 300);
        PodStrategy.validate_create(&pod).unwrap();
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(default_pull_policy("nginx@sha256:ab"), "IfNotPresent");
    }

    #[test]
    fn bad_specs_are_invalid_with_a_cause_per_field() {
        let pod = created(json!({
            "metadata": {"name": "bad"},
            "spec": {"containers": [
                {"name": "a", "image": "x", "ports": [{"containerPort": 0}],
                 "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1", "memory": "lots"}}},
                {"name": "a", "image": ""},
                {"name": "B_", "image": "x"}],
                     "restartPolicy": "Sometimes"}
        }));
        let err = PodStrategy.validate_create(&pod).unwrap_err();
        assert_eq!(err.http_code(), 422);
        let fields: Vec<&str> = err
            .details
            .as_ref()
            .unwrap()
            .causes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].ports[0].containerPort",
                "spec.containers[0].resources.limits[memory]",
                "spec.containers[0].resources.requests[memory]",
                "spec.containers[0].resources.requests",
                "spec.containers[1].name",
                "spec.containers[1].image",
                "spec.containers[2].name",
                "spec.restartPolicy",
            ]
        );
        let empty = created(json!({"metadata": {"name": "e"}, "spec": {}}));
        let err = PodStrategy.validate_create(&empty).unwrap_err();
        assert!(err.message.contains("spec.containers: Required value"));
    }

    #[test]
    fn updates_may_change_images_deadlines_and_add_tolerations_only() {
        let old = created(json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}
        }));
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut new = old.clone();
            edit(&mut new);
            PodStrategy.validate_update("", &new, &old)
        };
        with(&|p| p["spec"]["containers"][0]["image"] = json!("nginx:2")).unwrap();
        // A body that leaves defaulted fields out is defaulted again, not a change.
        let mut bare = json!({"metadata": {"name": "web"}, "spec": {
            "containers": [{"name": "web", "image": "nginx:1"}],
            "tolerations": old["spec"]["tolerations"].clone(),
            "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}});
        PodStrategy.prepare_update("", &mut bare, &old).unwrap();
        PodStrategy.validate_update("", &bare, &old).unwrap();
        assert_eq!(bare["status"], old["status"]);
        with(&|p| p["spec"]["activeDeadlineSeconds"] = json!(60)).unwrap();
        with(&|p| {
            p["spec"]["tolerations"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "k", "operator": "Exists"}))
        })
        .unwrap();
        let err = with(&|p| p["spec"]["nodeName"] = json!("node-2")).unwrap_err();
        assert!(err.message.contains("pod updates may not change fields"));
        with(&|p| p["spec"]["tolerations"] = json!([])).unwrap_err();
        with(&|p| p["spec"]["containers"][0]["name"] = json!("other")).unwrap_err();
        // The status subresource is not bound by the spec's rules.
        let mut status = old.clone();
        status["status"]["phase"] = json!("Running");
        PodStrategy
            .validate_update("status", &status, &old)
            .unwrap();
    }
}
