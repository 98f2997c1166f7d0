//! Core `v1` kinds this system serves: Node, Pod, Secret, ConfigMap, Namespace, Event (+
//! ObjectReference).

mod config_map;
mod event;
mod namespace;
mod node;
mod pod;
mod secret;

pub use config_map::{
    AUTHENTICATION_CONFIG_MAP, AUTHENTICATION_CONFIG_MAP_CLIENT_CA_KEY,
    AUTHENTICATION_CONFIG_MAP_NAMESPACE, ConfigMap, ConfigMapList,
    KUBELET_CLIENT_SIGNER_CA_ANNOTATION, KUBELET_SERVING_SIGNER_CA_ANNOTATION, ROOT_CA_CONFIG_MAP,
    ROOT_CA_CONFIG_MAP_KEY, ROOT_CA_NAMESPACE_FOR_NODES,
};
pub use event::{Event, EventList, EventSeries, EventSource, ObjectReference};
pub use namespace::{Namespace, NamespaceCondition, NamespaceList, NamespaceSpec, NamespaceStatus};
pub use node::{
    ContainerImage, DaemonEndpoint, NODE_CLIENT_CERTIFICATE_ANNOTATION,
    NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION, NODE_ROOT_CA_BUNDLE_ANNOTATION, Node, NodeAddress,
    NodeCondition, NodeDaemonEndpoints, NodeList, NodeSpec, NodeStatus, NodeSystemInfo, Quantity,
    Taint,
};
pub use pod::{
    CPU, Container, ContainerPort, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, EnvVar, MEMORY, Pod, PodCondition, PodIp, PodList,
    PodSpec, PodStatus, ResourceRequirements, Toleration, nano_value,
};
pub use secret::{
    BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION, BOOTSTRAP_TOKEN_SECRET_TYPE,
    BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION, BOOTSTRAP_TOKEN_USER_PREFIX, Secret, SecretList,
};

/// The core group is the empty string.
pub const GROUP: &str = "";
pub const API_VERSION: &str = "v1";
