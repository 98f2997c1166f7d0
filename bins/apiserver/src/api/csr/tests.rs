//! The strategy driven the way the generic REST code drives it: JSON values in and out, a real
//! RBAC policy as the authorizer.

use base64::Engine as _;
use serde_json::{Value, json};

use super::CsrStrategy;
use crate::api::{AdmissionContext, Operation, Strategy};

const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn csr_pem(common_name: &str, organizations: &[&str]) -> String {
    let key = pki::PrivateKey::generate_p256().unwrap();
    let subject = pki::CsrSubject {
        common_name: common_name.to_string(),
        organizations: organizations.iter().map(|o| o.to_string()).collect(),
    };
    pki::build_csr(&key, &subject, &pki::SubjectAltNames::default()).unwrap()
}

/// The same CSR with one bit of its signature flipped.
fn broken_signature(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = B64.decode(body).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        B64.encode(der)
    )
}

fn csr_object(name: &str, request_pem: &str, signer: &str, usages: &[&str]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": B64.encode(request_pem),
            "signerName": signer,
            "usages": usages,
        },
    })
}

fn node_csr(name: &str) -> Value {
    csr_object(
        name,
        &csr_pem("system:node:n1", &["system:nodes"]),
        KUBELET_CLIENT,
        &["digital signature", "client auth"],
    )
}

fn bootstrap_user() -> rbac::UserInfo {
    let mut user = rbac::UserInfo::new(
        "system:bootstrap:abcdef",
        ["system:bootstrappers", "system:authenticated"],
    );
    user.uid = "uid-1".to_string();
    user
}

/// Create as the generic code does: prepare, then validate.
fn create(obj: &mut Value, user: &rbac::UserInfo) -> Result<(), protocol::meta::Status> {
    CsrStrategy.prepare_create(obj, user)?;
    CsrStrategy.validate_create(obj)
}

fn update(subresource: &str, new: &mut Value, old: &Value) -> Result<(), protocol::meta::Status> {
    CsrStrategy.prepare_update(subresource, new, old)?;
    CsrStrategy.validate_update(subresource, new, old)
}

fn created_node_csr(name: &str) -> Value {
    let mut obj = node_csr(name);
    create(&mut obj, &bootstrap_user()).unwrap();
    obj
}

fn causes(status: &protocol::meta::Status) -> Vec<(String, String, String)> {
    status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| (c.field.clone(), c.reason.clone(), c.message.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn condition(type_: &str) -> Value {
    json!({"type": type_, "status": "True", "reason": "Test", "message": "by test"})
}

/// A policy where `approver` may approve and `signer-user` may sign for kubernetes.io signers.
fn policy() -> rbac::Policy {
    let roles: Vec<protocol::rbac::v1::ClusterRole> = serde_json::from_value(json!([
        {"metadata": {"name": "approver"}, "rules": [{"apiGroups": ["certificates.k8s.io"],
            "resources": ["signers"], "verbs": ["approve"], "resourceNames": [KUBELET_CLIENT]}]},
        {"metadata": {"name": "signer"}, "rules": [{"apiGroups": ["certificates.k8s.io"],
            "resources": ["signers"], "verbs": ["sign"], "resourceNames": ["kubernetes.io/*"]}]},
    ]))
    .unwrap();
    let bindings: Vec<protocol::rbac::v1::ClusterRoleBinding> = serde_json::from_value(json!([
        {"metadata": {"name": "approver"}, "subjects": [{"kind": "User", "name": "approver",
            "apiGroup": "rbac.authorization.k8s.io"}],
         "roleRef": {"kind": "ClusterRole", "name": "approver", "apiGroup": "rbac.authorization.k8s.io"}},
        {"metadata": {"name": "signer"}, "subjects": [{"kind": "User", "name": "signer-user",
            "apiGroup": "rbac.authorization.k8s.io"}],
         "roleRef": {"kind": "ClusterRole", "name": "signer", "apiGroup": "rbac.authorization.k8s.io"}},
    ]))
    .unwrap();
    rbac::Policy::new(&roles, &bindings, &[], &[])
}

fn admit(
    operation: Operation,
    subresource: &str,
    new: &Value,
    old: Option<&Value>,
    user: &rbac::UserInfo,
) -> Result<(), protocol::meta::Status> {
    let policy = policy();
    let ctx = AdmissionContext {
        operation,
        subresource,
        namespace: "",
        name: new["metadata"]["name"].as_str().unwrap_or_default(),
        user,
        object: new,
        old_object: old,
        authorizer: &policy,
        rule_resolver: &policy,
    };
    CsrStrategy.admit(&ctx)
}

#[test]
fn create_stamps_the_requester_and_empties_status() {
    let mut obj = node_csr("a");
    obj["spec"]["username"] = json!("system:admin");
    obj["spec"]["groups"] = json!(["system:masters"]);
    obj["spec"]["extra"] = json!({"forged": ["yes"]});
    obj["status"] = json!({"conditions": [condition("Approved")]});
    let mut user = bootstrap_user();
    user.extra
        .insert("scopes".to_string(), vec!["x".to_string()]);

    create(&mut obj, &user).unwrap();

    assert_eq!(obj["spec"]["username"], "system:bootstrap:abcdef");
    assert_eq!(obj["spec"]["uid"], "uid-1");
    assert_eq!(
        obj["spec"]["groups"],
        json!(["system:bootstrappers", "system:authenticated"])
    );
    assert_eq!(obj["spec"]["extra"], json!({"scopes": ["x"]}));
    assert_eq!(obj["status"], json!({}));
}

#[test]
fn create_without_extra_omits_it() {
    let mut obj = node_csr("a");
    obj["spec"]["extra"] = json!({"forged": ["yes"]});
    create(&mut obj, &bootstrap_user()).unwrap();
    assert!(obj["spec"].get("extra").is_none(), "{obj}");
}

#[test]
fn garbage_request_is_invalid_with_go_formatted_bytes() {
    let mut obj = csr_object("bad", "", KUBELET_CLIENT, &["client auth"]);
    obj["spec"]["request"] = json!(B64.encode("hi"));
    let status = create(&mut obj, &bootstrap_user()).unwrap_err();
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "CertificateSigningRequest.certificates.k8s.io \"bad\" is invalid: spec.request: Invalid value: []byte{0x68, 0x69}: PEM block type must be CERTIFICATE REQUEST"
    );
    assert_eq!(causes(&status)[0].0, "spec.request");
    assert_eq!(causes(&status)[0].1, "FieldValueInvalid");
}

#[test]
fn wrong_pem_type_is_invalid() {
    let pem = csr_pem("x", &[]).replace("CERTIFICATE REQUEST", "CERTIFICATE");
    let mut obj = csr_object("t", &pem, KUBELET_CLIENT, &["client auth"]);
    let status = create(&mut obj, &bootstrap_user()).unwrap_err();
    assert!(
        status
            .message
            .ends_with("PEM block type must be CERTIFICATE REQUEST"),
        "{}",
        status.message
    );
}

#[test]
fn broken_signature_is_invalid() {
    let pem = broken_signature(&csr_pem("system:node:n1", &["system:nodes"]));
    let mut obj = csr_object("sig", &pem, KUBELET_CLIENT, &["client auth"]);
    let status = create(&mut obj, &bootstrap_user()).unwrap_err();
    assert_eq!(status.code, 422);
    let found = causes(&status);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "spec.request");
}

#[test]
fn usages_are_required_known_and_unique() {
    let pem = csr_pem("x", &[]);
    let mut empty = csr_object("u", &pem, KUBELET_CLIENT, &[]);
    let status = create(&mut empty, &bootstrap_user()).unwrap_err();
    assert_eq!(
        causes(&status),
        vec![(
            "spec.usages".into(),
            "FieldValueRequired".into(),
            "Required value".into()
        )]
    );

    let mut unknown = csr_object("u", &pem, KUBELET_CLIENT, &["client auth", "flying"]);
    let status = create(&mut unknown, &bootstrap_user()).unwrap_err();
    let found = causes(&status);
    assert_eq!(found[0].0, "spec.usages[1]");
    assert_eq!(found[0].1, "FieldValueNotSupported");
    assert!(found[0].2.starts_with(
        "Unsupported value: \"flying\": supported values: \"any\", \"cert sign\", \"client auth\""
    ));

    let mut dup = csr_object("u", &pem, KUBELET_CLIENT, &["client auth", "client auth"]);
    let status = create(&mut dup, &bootstrap_user()).unwrap_err();
    assert_eq!(
        causes(&status),
        vec![(
            "spec.usages[1]".into(),
            "FieldValueDuplicate".into(),
            "Duplicate value: \"client auth\"".into()
        )]
    );
}

#[test]
fn signer_name_rules() {
    let pem = csr_pem("x", &[]);
    let mut legacy = csr_object("s", &pem, "kubernetes.io/legacy-unknown", &["client auth"]);
    let status = create(&mut legacy, &bootstrap_user()).unwrap_err();
    assert!(status.message.ends_with(
        "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version"
    ));
    let mut missing = csr_object("s", &pem, "", &["client auth"]);
    let status = create(&mut missing, &bootstrap_user()).unwrap_err();
    assert_eq!(causes(&status)[0].1, "FieldValueRequired");
}

#[test]
fn short_expiration_is_invalid() {
    let mut obj = node_csr("e");
    obj["spec"]["expirationSeconds"] = json!(599);
    let status = create(&mut obj, &bootstrap_user()).unwrap_err();
    assert!(status.message.ends_with(
        "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"
    ));
    let mut ok = node_csr("e");
    ok["spec"]["expirationSeconds"] = json!(600);
    create(&mut ok, &bootstrap_user()).unwrap();
}

#[test]
fn approval_adds_a_condition_with_timestamps() {
    let old = created_node_csr("a");
    let mut new = old.clone();
    new["status"]["conditions"] = json!([condition("Approved")]);
    new["spec"]["username"] = json!("someone-else");
    new["status"]["certificate"] = json!(B64.encode("not allowed here"));

    update("approval", &mut new, &old).unwrap();

    assert_eq!(
        new["spec"], old["spec"],
        "spec comes from the stored object"
    );
    assert!(
        new["status"].get("certificate").is_none(),
        "certificate comes from the stored object"
    );
    let cond = &new["status"]["conditions"][0];
    assert!(cond["lastUpdateTime"].is_string(), "{cond}");
    assert_eq!(cond["lastUpdateTime"], cond["lastTransitionTime"]);
}

#[test]
fn approved_and_denied_are_mutually_exclusive() {
    let old = created_node_csr("a");
    let mut new = old.clone();
    new["status"]["conditions"] = json!([condition("Approved"), condition("Denied")]);
    let status = update("approval", &mut new, &old).unwrap_err();
    assert_eq!(status.code, 422);
    assert_eq!(
        causes(&status),
        vec![(
            "status.conditions[1].type".into(),
            "FieldValueInvalid".into(),
            "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
                .into()
        )]
    );
}

#[test]
fn decisions_cannot_be_removed_and_condition_status_is_checked() {
    let mut approved = created_node_csr("a");
    let mut with_decision = approved.clone();
    with_decision["status"]["conditions"] = json!([condition("Approved")]);
    update("approval", &mut with_decision, &approved).unwrap();
    approved = with_decision;

    let mut removed = approved.clone();
    removed["status"]["conditions"] = json!([]);
    let status = update("approval", &mut removed, &approved).unwrap_err();
    assert!(
        status
            .message
            .contains("updates may not remove a condition of type \"Approved\""),
        "{}",
        status.message
    );

    let mut bad_status = approved.clone();
    bad_status["status"]["conditions"] =
        json!([condition("Approved"), {"type": "Failed", "status": "False"}]);
    let status = update("status", &mut bad_status, &approved).unwrap_err();
    assert_eq!(causes(&status)[0].0, "status.conditions[1].status");
    assert_eq!(causes(&status)[0].1, "FieldValueNotSupported");
}

#[test]
fn status_keeps_approval_conditions_and_fills_timestamps() {
    let old = created_node_csr("a");
    let mut new = old.clone();
    new["status"]["conditions"] = json!([condition("Approved")]);
    let status = update("status", &mut new, &old).unwrap_err();
    assert!(
        status
            .message
            .contains("updates may not add a condition of type \"Approved\""),
        "{}",
        status.message
    );

    let mut failed = old.clone();
    failed["status"]["conditions"] = json!([condition("Failed")]);
    update("status", &mut failed, &old).unwrap();
    assert!(failed["status"]["conditions"][0]["lastTransitionTime"].is_string());
}

#[test]
fn status_keeps_a_stored_transition_time() {
    let mut old = created_node_csr("a");
    old["status"]["conditions"] = json!([{"type": "Custom", "status": "True",
        "lastUpdateTime": "2020-01-01T00:00:00Z", "lastTransitionTime": "2020-01-01T00:00:00Z"}]);
    let mut new = old.clone();
    new["status"]["conditions"] = json!([{"type": "Custom", "status": "True"}]);
    update("status", &mut new, &old).unwrap();
    let cond = &new["status"]["conditions"][0];
    assert_eq!(cond["lastTransitionTime"], "2020-01-01T00:00:00Z");
    assert_ne!(cond["lastUpdateTime"], "2020-01-01T00:00:00Z");
}

#[test]
fn certificate_is_set_once_and_only_through_status() {
    let ca = pki::CertificateAuthority::generate(
        "ca",
        pki::KeyAlgorithm::EcdsaP256,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let cert = B64.encode(ca.cert_pem());
    let old = created_node_csr("a");

    let mut main = old.clone();
    main["status"]["certificate"] = json!(cert);
    update("", &mut main, &old).unwrap();
    assert!(
        main["status"].get("certificate").is_none(),
        "main resource keeps the stored status"
    );

    let mut garbage = old.clone();
    garbage["status"]["certificate"] = json!(B64.encode("junk"));
    let status = update("status", &mut garbage, &old).unwrap_err();
    assert!(status.message.ends_with(
        "status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"
    ), "{}", status.message);

    let mut issued = old.clone();
    issued["status"]["certificate"] = json!(cert);
    update("status", &mut issued, &old).unwrap();
    assert_eq!(issued["status"]["certificate"], json!(cert));

    let other = pki::CertificateAuthority::generate(
        "ca2",
        pki::KeyAlgorithm::EcdsaP256,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let mut reissued = issued.clone();
    reissued["status"]["certificate"] = json!(B64.encode(other.cert_pem()));
    let status = update("status", &mut reissued, &issued).unwrap_err();
    assert!(
        status
            .message
            .contains("updates may not modify existing certificate content"),
        "{}",
        status.message
    );
}

#[test]
fn subject_restriction_blocks_system_masters_for_apiserver_client() {
    let mut obj = csr_object(
        "m",
        &csr_pem("evil", &["system:masters"]),
        "kubernetes.io/kube-apiserver-client",
        &["client auth"],
    );
    create(&mut obj, &bootstrap_user()).unwrap();
    let status = admit(Operation::Create, "", &obj, None, &bootstrap_user()).unwrap_err();
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "certificatesigningrequests.certificates.k8s.io \"m\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    );
    let other = created_node_csr("n");
    admit(Operation::Create, "", &other, None, &bootstrap_user()).unwrap();
}

#[test]
fn approval_needs_approve_on_the_signer() {
    let old = created_node_csr("a");
    let mut new = old.clone();
    new["status"]["conditions"] = json!([condition("Approved")]);
    update("approval", &mut new, &old).unwrap();

    let stranger = rbac::UserInfo::new("stranger", ["system:authenticated"]);
    let status = admit(Operation::Update, "approval", &new, Some(&old), &stranger).unwrap_err();
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "certificatesigningrequests.certificates.k8s.io \"a\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client-kubelet\""
    );
    let approver = rbac::UserInfo::new("approver", ["system:authenticated"]);
    admit(Operation::Update, "approval", &new, Some(&old), &approver).unwrap();
    // An approval update that changes no decision needs no approve permission.
    admit(Operation::Update, "approval", &old, Some(&old), &stranger).unwrap();
}

#[test]
fn signing_needs_sign_on_the_signer_or_its_domain() {
    let ca = pki::CertificateAuthority::generate(
        "ca",
        pki::KeyAlgorithm::EcdsaP256,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let old = created_node_csr("a");
    let mut new = old.clone();
    new["status"]["certificate"] = json!(B64.encode(ca.cert_pem()));
    update("status", &mut new, &old).unwrap();

    let approver = rbac::UserInfo::new("approver", ["system:authenticated"]);
    let status = admit(Operation::Update, "status", &new, Some(&old), &approver).unwrap_err();
    assert!(status.message.ends_with(
        "user not permitted to sign requests with signerName \"kubernetes.io/kube-apiserver-client-kubelet\""
    ));
    // `signer-user` holds `sign` only on `kubernetes.io/*`: the wildcard check lets it through.
    let signer = rbac::UserInfo::new("signer-user", ["system:authenticated"]);
    admit(Operation::Update, "status", &new, Some(&old), &signer).unwrap();
}

#[test]
fn unknown_subresource_is_not_found() {
    let old = created_node_csr("a");
    let mut new = old.clone();
    let status = CsrStrategy
        .prepare_update("bogus", &mut new, &old)
        .unwrap_err();
    assert_eq!(status.code, 404);
}

#[test]
fn kubelet_signer_requests_count_against_requester_signer_and_node() {
    let user = bootstrap_user();
    let key = |pem: &str, signer: &str| {
        let mut obj = csr_object("c", pem, signer, &["digital signature", "client auth"]);
        create(&mut obj, &user).unwrap();
        CsrStrategy.create_rate_key(&obj, &user)
    };
    let node = key(
        &csr_pem("system:node:n1", &["system:nodes"]),
        KUBELET_CLIENT,
    )
    .unwrap();
    assert_eq!(
        (
            node.requester.as_str(),
            node.signer.as_str(),
            node.node.as_str()
        ),
        ("system:bootstrap:abcdef", KUBELET_CLIENT, "n1")
    );
    let serving = key(
        &csr_pem("system:node:n2", &["system:nodes"]),
        "kubernetes.io/kubelet-serving",
    )
    .unwrap();
    assert_eq!(
        (serving.signer.as_str(), serving.node.as_str()),
        ("kubernetes.io/kubelet-serving", "n2")
    );
    // Other signers are not limited, nor is a kubelet signer's odd CN left out.
    assert_eq!(key(&csr_pem("alice", &[]), "example.com/issuer"), None);
    assert_eq!(
        key(
            &csr_pem("alice", &[]),
            "kubernetes.io/kube-apiserver-client"
        ),
        None
    );
    assert_eq!(
        key(&csr_pem("odd", &[]), KUBELET_CLIENT).unwrap().node,
        "odd"
    );
}
