//! The component schemas of every kind we serve, under their upstream names, field for field as
//! `protocol` decodes them: a field listed here is kept, a field not listed is dropped by the
//! typed decoding (which is why field validation reports it). Loose (`preserve-unknown-fields`)
//! only where the value really is arbitrary JSON.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::{
    array, boolean, bytes, date_time, described, int32, int64, keyed_array, loose, map, object,
    object_requiring, reference, set_array, string, with_gvk,
};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const CORE: &str = "io.k8s.api.core.v1";
const CERTIFICATES: &str = "io.k8s.api.certificates.v1";
const RBAC: &str = "io.k8s.api.rbac.v1";
const COORDINATION: &str = "io.k8s.api.coordination.v1";
const AUTHENTICATION: &str = "io.k8s.api.authentication.v1";
const AUTHORIZATION: &str = "io.k8s.api.authorization.v1";
/// Ours: the group's name reversed, as Kubernetes names the schemas of custom resources.
const REVOCATION: &str = "io.kubelet-tls-bootstrap.revocation.v1alpha1";

/// The upstream schema name of a served kind (`io.k8s.api.rbac.v1.ClusterRoleBinding`).
pub fn kind_schema_name(group: &str, kind: &str) -> Option<String> {
    let package = match group {
        "" => CORE,
        "certificates.k8s.io" => CERTIFICATES,
        "rbac.authorization.k8s.io" => RBAC,
        "coordination.k8s.io" => COORDINATION,
        "authentication.k8s.io" => AUTHENTICATION,
        "authorization.k8s.io" => AUTHORIZATION,
        "revocation.kubelet-tls-bootstrap.io" => REVOCATION,
        _ => return None,
    };
    Some(format!("{package}.{kind}"))
}

fn meta(name: &str) -> String {
    format!("{META}.{name}")
}

/// `apiVersion`, `kind` and `metadata`, then the kind's own fields.
fn top_level(description: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut properties = vec![
        ("apiVersion", string()),
        ("kind", string()),
        ("metadata", reference(&meta("ObjectMeta"))),
    ];
    properties.extend(fields);
    object(description, &properties)
}

fn kind(
    schemas: &mut BTreeMap<String, Value>,
    package: &str,
    group: &str,
    name: &str,
    description: &str,
    fields: Vec<(&str, Value)>,
) {
    kind_at(schemas, (package, group, "v1"), name, description, fields)
}

/// [`kind`] for a version other than `v1`; `at` is (package, group, version).
fn kind_at(
    schemas: &mut BTreeMap<String, Value>,
    (package, group, version): (&str, &str, &str),
    name: &str,
    description: &str,
    fields: Vec<(&str, Value)>,
) {
    let schema = with_gvk(top_level(description, fields), group, version, name);
    schemas.insert(format!("{package}.{name}"), schema);
    let list = with_gvk(
        object_requiring(
            &format!("A list of {name} objects."),
            &[
                ("apiVersion", string()),
                ("kind", string()),
                ("metadata", reference(&meta("ListMeta"))),
                ("items", array(reference(&format!("{package}.{name}")))),
            ],
            &["items"],
        ),
        group,
        version,
        &format!("{name}List"),
    );
    schemas.insert(format!("{package}.{name}List"), list);
}

fn put(schemas: &mut BTreeMap<String, Value>, name: String, schema: Value) {
    schemas.insert(name, schema);
}

/// Every component schema, by name.
pub fn all() -> BTreeMap<String, Value> {
    let mut s = BTreeMap::new();
    meta_schemas(&mut s);
    core_schemas(&mut s);
    certificates_schemas(&mut s);
    rbac_schemas(&mut s);
    coordination_schemas(&mut s);
    authentication_schemas(&mut s);
    authorization_schemas(&mut s);
    revocation_schemas(&mut s);
    s
}

fn meta_schemas(s: &mut BTreeMap<String, Value>) {
    put(s, meta("Time"), date_time());
    put(s, meta("MicroTime"), date_time());
    let time = || reference(&meta("Time"));
    put(
        s,
        meta("ObjectMeta"),
        object(
            "Metadata all persisted objects have.",
            &[
                ("name", string()),
                ("generateName", string()),
                ("namespace", string()),
                ("selfLink", string()),
                ("uid", string()),
                ("resourceVersion", string()),
                ("generation", int64()),
                ("creationTimestamp", time()),
                ("deletionTimestamp", time()),
                ("deletionGracePeriodSeconds", int64()),
                ("labels", map(string())),
                ("annotations", map(string())),
                (
                    "ownerReferences",
                    keyed_array(reference(&meta("OwnerReference")), "uid"),
                ),
                ("finalizers", set_array(string())),
                (
                    "managedFields",
                    array(reference(&meta("ManagedFieldsEntry"))),
                ),
            ],
        ),
    );
    put(
        s,
        meta("OwnerReference"),
        object_requiring(
            "An object this one belongs to.",
            &[
                ("apiVersion", string()),
                ("kind", string()),
                ("name", string()),
                ("uid", string()),
                ("controller", boolean()),
                ("blockOwnerDeletion", boolean()),
            ],
            &["apiVersion", "kind", "name", "uid"],
        ),
    );
    put(
        s,
        meta("ManagedFieldsEntry"),
        object(
            "A workflow's field ownership.",
            &[
                ("manager", string()),
                ("operation", string()),
                ("apiVersion", string()),
                ("time", time()),
                ("fieldsType", string()),
                ("fieldsV1", reference(&meta("FieldsV1"))),
                ("subresource", string()),
            ],
        ),
    );
    put(
        s,
        meta("FieldsV1"),
        loose("A set of fields, in the FieldsV1 JSON trie format."),
    );
    put(
        s,
        meta("ListMeta"),
        object(
            "Metadata of lists.",
            &[
                ("selfLink", string()),
                ("resourceVersion", string()),
                ("continue", string()),
                ("remainingItemCount", int64()),
            ],
        ),
    );
    put(
        s,
        meta("LabelSelector"),
        object(
            "A label query.",
            &[
                ("matchLabels", map(string())),
                (
                    "matchExpressions",
                    array(reference(&meta("LabelSelectorRequirement"))),
                ),
            ],
        ),
    );
    put(
        s,
        meta("LabelSelectorRequirement"),
        object_requiring(
            "One label selector requirement.",
            &[
                ("key", string()),
                ("operator", string()),
                ("values", array(string())),
            ],
            &["key", "operator"],
        ),
    );
}

fn core_schemas(s: &mut BTreeMap<String, Value>) {
    let time = || reference(&meta("Time"));
    let c = |name: &str| format!("{CORE}.{name}");
    kind(
        s,
        CORE,
        "",
        "Secret",
        "Secret holds secret data of a certain type.",
        vec![
            ("immutable", boolean()),
            ("data", map(bytes())),
            ("stringData", map(string())),
            ("type", string()),
        ],
    );
    kind(
        s,
        CORE,
        "",
        "ConfigMap",
        "ConfigMap holds configuration data for pods to consume.",
        vec![
            ("immutable", boolean()),
            ("data", map(string())),
            ("binaryData", map(bytes())),
        ],
    );
    kind(
        s,
        CORE,
        "",
        "Namespace",
        "Namespace provides a scope for Names.",
        vec![
            ("spec", reference(&c("NamespaceSpec"))),
            ("status", reference(&c("NamespaceStatus"))),
        ],
    );
    put(
        s,
        c("NamespaceSpec"),
        object(
            "The attributes of a Namespace.",
            &[("finalizers", array(string()))],
        ),
    );
    put(
        s,
        c("NamespaceStatus"),
        object(
            "The information about a Namespace.",
            &[
                ("phase", string()),
                (
                    "conditions",
                    keyed_array(reference(&c("NamespaceCondition")), "type"),
                ),
            ],
        ),
    );
    put(
        s,
        c("NamespaceCondition"),
        object_requiring(
            "A namespace's condition.",
            &[
                ("type", string()),
                ("status", string()),
                ("lastTransitionTime", time()),
                ("reason", string()),
                ("message", string()),
            ],
            &["type", "status"],
        ),
    );
    kind(
        s,
        CORE,
        "",
        "Node",
        "Node is a worker node.",
        vec![
            ("spec", reference(&c("NodeSpec"))),
            ("status", reference(&c("NodeStatus"))),
        ],
    );
    put(
        s,
        c("NodeSpec"),
        object(
            "How a node is set up.",
            &[
                ("podCIDR", string()),
                ("podCIDRs", set_array(string())),
                ("providerID", string()),
                ("unschedulable", boolean()),
                ("taints", array(reference(&c("Taint")))),
                ("externalID", string()),
            ],
        ),
    );
    put(
        s,
        c("Taint"),
        object_requiring(
            "A node taint.",
            &[
                ("key", string()),
                ("value", string()),
                ("effect", string()),
                ("timeAdded", time()),
            ],
            &["key", "effect"],
        ),
    );
    put(
        s,
        c("NodeStatus"),
        object(
            "The most recently observed status of a node.",
            &[
                (
                    "capacity",
                    map(reference("io.k8s.apimachinery.pkg.api.resource.Quantity")),
                ),
                (
                    "allocatable",
                    map(reference("io.k8s.apimachinery.pkg.api.resource.Quantity")),
                ),
                ("phase", string()),
                (
                    "conditions",
                    keyed_array(reference(&c("NodeCondition")), "type"),
                ),
                (
                    "addresses",
                    keyed_array(reference(&c("NodeAddress")), "type"),
                ),
                ("daemonEndpoints", reference(&c("NodeDaemonEndpoints"))),
                ("nodeInfo", reference(&c("NodeSystemInfo"))),
                ("images", array(reference(&c("ContainerImage")))),
                ("volumesInUse", array(string())),
            ],
        ),
    );
    put(
        s,
        "io.k8s.apimachinery.pkg.api.resource.Quantity".to_string(),
        serde_json::json!({"type": "string", "description": "A fixed-point number, e.g. 4Gi or 500m."}),
    );
    put(
        s,
        c("NodeCondition"),
        object_requiring(
            "A node's condition.",
            &[
                ("type", string()),
                ("status", string()),
                ("lastHeartbeatTime", time()),
                ("lastTransitionTime", time()),
                ("reason", string()),
                ("message", string()),
            ],
            &["type", "status"],
        ),
    );
    put(
        s,
        c("NodeAddress"),
        object_requiring(
            "An address of a node.",
            &[("type", string()), ("address", string())],
            &["type", "address"],
        ),
    );
    put(
        s,
        c("NodeDaemonEndpoints"),
        object(
            "Ports of daemons on the node.",
            &[("kubeletEndpoint", reference(&c("DaemonEndpoint")))],
        ),
    );
    put(
        s,
        c("DaemonEndpoint"),
        object_requiring("A daemon's port.", &[("Port", int32())], &["Port"]),
    );
    put(
        s,
        c("NodeSystemInfo"),
        object(
            "Identifiers of the node.",
            &[
                ("machineID", string()),
                ("systemUUID", string()),
                ("bootID", string()),
                ("kernelVersion", string()),
                ("osImage", string()),
                ("containerRuntimeVersion", string()),
                ("kubeletVersion", string()),
                ("kubeProxyVersion", string()),
                ("operatingSystem", string()),
                ("architecture", string()),
            ],
        ),
    );
    put(
        s,
        c("ContainerImage"),
        object(
            "A container image on the node.",
            &[("names", array(string())), ("sizeBytes", int64())],
        ),
    );
    pod_schemas(s);
    kind(
        s,
        CORE,
        "",
        "Event",
        "Event is a report of an event somewhere in the cluster.",
        vec![
            ("involvedObject", reference(&c("ObjectReference"))),
            ("reason", string()),
            ("message", string()),
            ("source", reference(&c("EventSource"))),
            ("firstTimestamp", time()),
            ("lastTimestamp", time()),
            ("count", int32()),
            ("type", string()),
            ("eventTime", reference(&meta("MicroTime"))),
            ("series", reference(&c("EventSeries"))),
            ("action", string()),
            ("related", reference(&c("ObjectReference"))),
            ("reportingComponent", string()),
            ("reportingInstance", string()),
        ],
    );
    put(
        s,
        c("ObjectReference"),
        object(
            "A reference to an object.",
            &[
                ("kind", string()),
                ("namespace", string()),
                ("name", string()),
                ("uid", string()),
                ("apiVersion", string()),
                ("resourceVersion", string()),
                ("fieldPath", string()),
            ],
        ),
    );
    put(
        s,
        c("EventSource"),
        object(
            "Where an event came from.",
            &[("component", string()), ("host", string())],
        ),
    );
    put(
        s,
        c("EventSeries"),
        object(
            "A series of events.",
            &[
                ("count", int32()),
                ("lastObservedTime", reference(&meta("MicroTime"))),
            ],
        ),
    );
}

/// `Pod` and its parts, as far as `protocol::core::v1::Pod` keeps them.
fn pod_schemas(s: &mut BTreeMap<String, Value>) {
    let time = || reference(&meta("Time"));
    let c = |name: &str| format!("{CORE}.{name}");
    let quantity = || reference("io.k8s.apimachinery.pkg.api.resource.Quantity");
    kind(
        s,
        CORE,
        "",
        "Pod",
        "Pod is a collection of containers that can run on a host.",
        vec![
            ("spec", reference(&c("PodSpec"))),
            ("status", reference(&c("PodStatus"))),
        ],
    );
    put(
        s,
        c("PodSpec"),
        object_requiring(
            "PodSpec is a description of a pod.",
            &[
                (
                    "containers",
                    keyed_array(reference(&c("Container")), "name"),
                ),
                (
                    "initContainers",
                    keyed_array(reference(&c("Container")), "name"),
                ),
                ("restartPolicy", string()),
                ("terminationGracePeriodSeconds", int64()),
                ("activeDeadlineSeconds", int64()),
                ("dnsPolicy", string()),
                ("nodeSelector", map(string())),
                ("serviceAccountName", string()),
                ("nodeName", string()),
                ("hostNetwork", boolean()),
                ("hostname", string()),
                ("subdomain", string()),
                ("schedulerName", string()),
                ("tolerations", array(reference(&c("Toleration")))),
                ("priorityClassName", string()),
                ("priority", int32()),
                ("enableServiceLinks", boolean()),
                ("preemptionPolicy", string()),
            ],
            &["containers"],
        ),
    );
    put(
        s,
        c("Container"),
        object_requiring(
            "A single application container that you want to run within a pod.",
            &[
                ("name", string()),
                ("image", string()),
                ("command", array(string())),
                ("args", array(string())),
                ("workingDir", string()),
                (
                    "ports",
                    keyed_array(reference(&c("ContainerPort")), "containerPort"),
                ),
                ("env", keyed_array(reference(&c("EnvVar")), "name")),
                ("resources", reference(&c("ResourceRequirements"))),
                ("terminationMessagePath", string()),
                ("terminationMessagePolicy", string()),
                ("imagePullPolicy", string()),
                ("stdin", boolean()),
                ("stdinOnce", boolean()),
                ("tty", boolean()),
            ],
            &["name"],
        ),
    );
    put(
        s,
        c("ContainerPort"),
        object_requiring(
            "A network port in a single container.",
            &[
                ("name", string()),
                ("hostPort", int32()),
                ("containerPort", int32()),
                ("protocol", string()),
                ("hostIP", string()),
            ],
            &["containerPort"],
        ),
    );
    put(
        s,
        c("EnvVar"),
        object_requiring(
            "An environment variable present in a container (literal values only).",
            &[("name", string()), ("value", string())],
            &["name"],
        ),
    );
    put(
        s,
        c("ResourceRequirements"),
        object(
            "Compute resource requirements.",
            &[("limits", map(quantity())), ("requests", map(quantity()))],
        ),
    );
    put(
        s,
        c("Toleration"),
        object(
            "The pod this Toleration is attached to tolerates any taint that matches the triple <key,value,effect> using the matching operator <operator>.",
            &[
                ("key", string()),
                ("operator", string()),
                ("value", string()),
                ("effect", string()),
                ("tolerationSeconds", int64()),
            ],
        ),
    );
    put(
        s,
        c("PodStatus"),
        object(
            "PodStatus represents information about the status of a pod.",
            &[
                ("phase", string()),
                (
                    "conditions",
                    keyed_array(reference(&c("PodCondition")), "type"),
                ),
                ("message", string()),
                ("reason", string()),
                ("hostIP", string()),
                ("podIP", string()),
                ("podIPs", keyed_array(reference(&c("PodIP")), "ip")),
                ("startTime", time()),
                ("containerStatuses", array(reference(&c("ContainerStatus")))),
                (
                    "initContainerStatuses",
                    array(reference(&c("ContainerStatus"))),
                ),
                ("qosClass", string()),
                ("nominatedNodeName", string()),
            ],
        ),
    );
    put(
        s,
        c("PodCondition"),
        object_requiring(
            "PodCondition contains details for the current condition of this pod.",
            &[
                ("type", string()),
                ("status", string()),
                ("lastProbeTime", time()),
                ("lastTransitionTime", time()),
                ("reason", string()),
                ("message", string()),
            ],
            &["type", "status"],
        ),
    );
    put(
        s,
        c("PodIP"),
        object_requiring(
            "An IP address allocated to the pod.",
            &[("ip", string())],
            &["ip"],
        ),
    );
    put(
        s,
        c("ContainerStatus"),
        object_requiring(
            "Details of a container's current condition.",
            &[
                ("name", string()),
                ("state", reference(&c("ContainerState"))),
                ("lastState", reference(&c("ContainerState"))),
                ("ready", boolean()),
                ("restartCount", int32()),
                ("image", string()),
                ("imageID", string()),
                ("containerID", string()),
                ("started", boolean()),
            ],
            &["name", "ready", "restartCount", "image", "imageID"],
        ),
    );
    put(
        s,
        c("ContainerState"),
        object(
            "The possible state of a container; only one member is set.",
            &[
                ("waiting", reference(&c("ContainerStateWaiting"))),
                ("running", reference(&c("ContainerStateRunning"))),
                ("terminated", reference(&c("ContainerStateTerminated"))),
            ],
        ),
    );
    put(
        s,
        c("ContainerStateWaiting"),
        object(
            "A waiting state of a container.",
            &[("reason", string()), ("message", string())],
        ),
    );
    put(
        s,
        c("ContainerStateRunning"),
        object("A running state of a container.", &[("startedAt", time())]),
    );
    put(
        s,
        c("ContainerStateTerminated"),
        object_requiring(
            "A terminated state of a container.",
            &[
                ("exitCode", int32()),
                ("signal", int32()),
                ("reason", string()),
                ("message", string()),
                ("startedAt", time()),
                ("finishedAt", time()),
                ("containerID", string()),
            ],
            &["exitCode"],
        ),
    );
}

fn certificates_schemas(s: &mut BTreeMap<String, Value>) {
    let c = |name: &str| format!("{CERTIFICATES}.{name}");
    kind(
        s,
        CERTIFICATES,
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "A request for a signed certificate from a named signer.",
        vec![
            ("spec", reference(&c("CertificateSigningRequestSpec"))),
            ("status", reference(&c("CertificateSigningRequestStatus"))),
        ],
    );
    put(
        s,
        c("CertificateSigningRequestSpec"),
        object_requiring(
            "The certificate request and its requester.",
            &[
                ("request", bytes()),
                ("signerName", string()),
                ("expirationSeconds", int32()),
                ("usages", array(string())),
                ("username", string()),
                ("uid", string()),
                ("groups", array(string())),
                ("extra", map(array(string()))),
            ],
            &["request", "signerName"],
        ),
    );
    put(
        s,
        c("CertificateSigningRequestStatus"),
        object(
            "Approval conditions and the issued certificate.",
            &[
                (
                    "conditions",
                    keyed_array(reference(&c("CertificateSigningRequestCondition")), "type"),
                ),
                ("certificate", bytes()),
            ],
        ),
    );
    put(
        s,
        c("CertificateSigningRequestCondition"),
        object_requiring(
            "A condition (Approved, Denied, Failed) of a request.",
            &[
                ("type", string()),
                ("status", string()),
                ("reason", string()),
                ("message", string()),
                ("lastUpdateTime", reference(&meta("Time"))),
                ("lastTransitionTime", reference(&meta("Time"))),
            ],
            &["type", "status"],
        ),
    );
}

fn rbac_schemas(s: &mut BTreeMap<String, Value>) {
    let r = |name: &str| format!("{RBAC}.{name}");
    let group = "rbac.authorization.k8s.io";
    kind(
        s,
        RBAC,
        group,
        "ClusterRole",
        "A cluster-level set of PolicyRules.",
        vec![
            ("rules", array(reference(&r("PolicyRule")))),
            ("aggregationRule", reference(&r("AggregationRule"))),
        ],
    );
    kind(
        s,
        RBAC,
        group,
        "Role",
        "A namespaced set of PolicyRules.",
        vec![("rules", array(reference(&r("PolicyRule"))))],
    );
    for name in ["ClusterRoleBinding", "RoleBinding"] {
        kind(
            s,
            RBAC,
            group,
            name,
            "Grants the permissions of a role to subjects.",
            vec![
                ("subjects", array(reference(&r("Subject")))),
                ("roleRef", reference(&r("RoleRef"))),
            ],
        );
    }
    put(
        s,
        r("PolicyRule"),
        object_requiring(
            "Actions allowed on resources or non-resource URLs.",
            &[
                ("verbs", array(string())),
                ("apiGroups", array(string())),
                ("resources", array(string())),
                ("resourceNames", array(string())),
                ("nonResourceURLs", array(string())),
            ],
            &["verbs"],
        ),
    );
    put(
        s,
        r("Subject"),
        object_requiring(
            "A user, group or service account.",
            &[
                ("kind", string()),
                ("apiGroup", string()),
                ("name", string()),
                ("namespace", string()),
            ],
            &["kind", "name"],
        ),
    );
    put(
        s,
        r("RoleRef"),
        object_requiring(
            "The role being granted.",
            &[
                ("apiGroup", string()),
                ("kind", string()),
                ("name", string()),
            ],
            &["apiGroup", "kind", "name"],
        ),
    );
    put(
        s,
        r("AggregationRule"),
        object(
            "How a ClusterRole aggregates other ClusterRoles.",
            &[(
                "clusterRoleSelectors",
                array(reference(&meta("LabelSelector"))),
            )],
        ),
    );
}

fn coordination_schemas(s: &mut BTreeMap<String, Value>) {
    kind(
        s,
        COORDINATION,
        "coordination.k8s.io",
        "Lease",
        "Lease defines a lease concept.",
        vec![("spec", reference(&format!("{COORDINATION}.LeaseSpec")))],
    );
    let micro = || reference(&meta("MicroTime"));
    put(
        s,
        format!("{COORDINATION}.LeaseSpec"),
        object(
            "The holder and timing of a lease.",
            &[
                ("holderIdentity", string()),
                ("leaseDurationSeconds", int32()),
                ("acquireTime", micro()),
                ("renewTime", micro()),
                ("leaseTransitions", int32()),
                ("strategy", string()),
                ("preferredHolder", string()),
            ],
        ),
    );
}

fn authentication_schemas(s: &mut BTreeMap<String, Value>) {
    let a = |name: &str| format!("{AUTHENTICATION}.{name}");
    kind(
        s,
        AUTHENTICATION,
        "authentication.k8s.io",
        "SelfSubjectReview",
        "The user information the apiserver holds about the requester.",
        vec![("status", reference(&a("SelfSubjectReviewStatus")))],
    );
    put(
        s,
        a("SelfSubjectReviewStatus"),
        object("The answer.", &[("userInfo", reference(&a("UserInfo")))]),
    );
    kind(
        s,
        AUTHENTICATION,
        "authentication.k8s.io",
        "TokenReview",
        "Asks who a bearer token belongs to.",
        vec![
            ("spec", reference(&a("TokenReviewSpec"))),
            ("status", reference(&a("TokenReviewStatus"))),
        ],
    );
    put(
        s,
        a("TokenReviewSpec"),
        object(
            "The token to review.",
            &[("token", string()), ("audiences", array(string()))],
        ),
    );
    put(
        s,
        a("TokenReviewStatus"),
        object(
            "The answer.",
            &[
                ("authenticated", boolean()),
                ("user", reference(&a("UserInfo"))),
                ("audiences", array(string())),
                ("error", string()),
            ],
        ),
    );
    put(
        s,
        a("UserInfo"),
        object(
            "A user as authentication established it.",
            &[
                ("username", string()),
                ("uid", string()),
                ("groups", array(string())),
                ("extra", map(array(string()))),
            ],
        ),
    );
}

fn authorization_schemas(s: &mut BTreeMap<String, Value>) {
    let a = |name: &str| format!("{AUTHORIZATION}.{name}");
    let group = "authorization.k8s.io";
    kind(
        s,
        AUTHORIZATION,
        group,
        "SubjectAccessReview",
        "Checks whether a user or group can perform an action.",
        vec![
            ("spec", reference(&a("SubjectAccessReviewSpec"))),
            ("status", reference(&a("SubjectAccessReviewStatus"))),
        ],
    );
    kind(
        s,
        AUTHORIZATION,
        group,
        "SelfSubjectAccessReview",
        "Checks whether the current user can perform an action.",
        vec![
            ("spec", reference(&a("SelfSubjectAccessReviewSpec"))),
            ("status", reference(&a("SubjectAccessReviewStatus"))),
        ],
    );
    kind(
        s,
        AUTHORIZATION,
        group,
        "SelfSubjectRulesReview",
        "Lists the actions the current user can perform in a namespace.",
        vec![
            ("spec", reference(&a("SelfSubjectRulesReviewSpec"))),
            ("status", reference(&a("SubjectRulesReviewStatus"))),
        ],
    );
    put(
        s,
        a("SelfSubjectRulesReviewSpec"),
        object(
            "The namespace to list rules in.",
            &[("namespace", string())],
        ),
    );
    put(
        s,
        a("SubjectRulesReviewStatus"),
        object_requiring(
            "The rules, as far as the authorizers can list them.",
            &[
                ("resourceRules", array(reference(&a("ResourceRule")))),
                ("nonResourceRules", array(reference(&a("NonResourceRule")))),
                ("incomplete", boolean()),
                ("evaluationError", string()),
            ],
            &["resourceRules", "nonResourceRules", "incomplete"],
        ),
    );
    put(
        s,
        a("ResourceRule"),
        object_requiring(
            "Actions on resources.",
            &[
                ("verbs", array(string())),
                ("apiGroups", array(string())),
                ("resources", array(string())),
                ("resourceNames", array(string())),
            ],
            &["verbs"],
        ),
    );
    put(
        s,
        a("NonResourceRule"),
        object_requiring(
            "Actions on non-resource URLs.",
            &[
                ("verbs", array(string())),
                ("nonResourceURLs", array(string())),
            ],
            &["verbs"],
        ),
    );
    put(
        s,
        a("SubjectAccessReviewSpec"),
        object(
            "The action and the user to check.",
            &[
                ("resourceAttributes", reference(&a("ResourceAttributes"))),
                (
                    "nonResourceAttributes",
                    reference(&a("NonResourceAttributes")),
                ),
                ("user", string()),
                ("groups", array(string())),
                ("extra", map(array(string()))),
                ("uid", string()),
            ],
        ),
    );
    put(
        s,
        a("SelfSubjectAccessReviewSpec"),
        object(
            "The action to check.",
            &[
                ("resourceAttributes", reference(&a("ResourceAttributes"))),
                (
                    "nonResourceAttributes",
                    reference(&a("NonResourceAttributes")),
                ),
            ],
        ),
    );
    put(
        s,
        a("SubjectAccessReviewStatus"),
        object_requiring(
            "The answer.",
            &[
                ("allowed", boolean()),
                ("denied", boolean()),
                ("reason", string()),
                ("evaluationError", string()),
            ],
            &["allowed"],
        ),
    );
    put(
        s,
        a("ResourceAttributes"),
        object(
            "A resource request.",
            &[
                ("namespace", string()),
                ("verb", string()),
                ("group", string()),
                ("version", string()),
                ("resource", string()),
                ("subresource", string()),
                ("name", string()),
                ("fieldSelector", reference(&a("FieldSelectorAttributes"))),
                ("labelSelector", reference(&a("LabelSelectorAttributes"))),
            ],
        ),
    );
    for name in ["FieldSelectorAttributes", "LabelSelectorAttributes"] {
        put(
            s,
            a(name),
            object(
                "A selector, raw or parsed.",
                &[
                    ("rawSelector", string()),
                    (
                        "requirements",
                        array(reference(&meta("LabelSelectorRequirement"))),
                    ),
                ],
            ),
        );
    }
    put(
        s,
        a("NonResourceAttributes"),
        object(
            "A non-resource request.",
            &[("path", string()), ("verb", string())],
        ),
    );
}

fn revocation_schemas(s: &mut BTreeMap<String, Value>) {
    kind_at(
        s,
        (
            REVOCATION,
            "revocation.kubelet-tls-bootstrap.io",
            "v1alpha1",
        ),
        "CertificateRevocation",
        "CertificateRevocation names client certificates the apiserver no longer accepts: by \
         serial number, or every certificate of a user issued before a time. Ours, not an \
         upstream kind.",
        vec![(
            "spec",
            reference(&format!("{REVOCATION}.CertificateRevocationSpec")),
        )],
    );
    put(
        s,
        format!("{REVOCATION}.CertificateRevocationSpec"),
        object(
            "What is revoked. At least one of serialNumbers and user is required.",
            &[
                (
                    "serialNumbers",
                    described(
                        array(string()),
                        "Serial numbers of revoked certificates, in hexadecimal as `openssl \
                         x509 -serial` prints them (colons, case and leading zeros do not \
                         matter; stored as lowercase hex).",
                    ),
                ),
                (
                    "user",
                    described(
                        string(),
                        "A user as a client certificate's CN names it (system:node:<name>): \
                         each of its certificates whose NotBefore is not later than \
                         issuedBefore is revoked.",
                    ),
                ),
                (
                    "issuedBefore",
                    described(
                        date_time(),
                        "With user: the time up to which its certificates are revoked. \
                         Defaults to the creation time.",
                    ),
                ),
                (
                    "reason",
                    described(string(), "Why, for the operator: free text."),
                ),
            ],
        ),
    );
}
