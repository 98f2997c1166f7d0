//! The floor's controller: csrapproving and csrsigning's work on one mutual-TLS connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use tokio::sync::{Semaphore, mpsc};

use super::transport::{Pki, Sender, call, call_whole, connect};

/// The controller: watch, approve, verify and sign, as csrapproving and csrsigning do.
pub(super) async fn controller(
    address: SocketAddr,
    pki: Arc<Pki>,
    workers: usize,
    signed: mpsc::UnboundedSender<Result<(), String>>,
) -> anyhow::Result<()> {
    // One HTTP/2 connection for the watch and every worker, as the controller-manager's.
    let Sender::H2(h2) = connect(address, pki.controller.clone()).await? else {
        bail!("the server did not choose HTTP/2 for the controller");
    };
    let mut events = call(
        &mut Sender::H2(h2.clone()),
        http::Method::GET,
        "/controller-watch",
        Bytes::new(),
    )
    .await?;
    let slots = Arc::new(Semaphore::new(workers));
    let mut buffer = Vec::new();
    while let Some(frame) = events.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_slice(&line)?;
            let csr: CertificateSigningRequest = serde_json::from_value(event["object"].clone())?;
            let (mut sender, pki, signed) = (Sender::H2(h2.clone()), pki.clone(), signed.clone());
            let slot = slots.clone().acquire_owned().await?;
            tokio::spawn(async move {
                let _slot = slot;
                match reconcile(&mut sender, &pki, csr).await {
                    Ok(Reconciled::Signed) => {
                        let _ = signed.send(Ok(()));
                    }
                    Ok(Reconciled::Approved | Reconciled::Done) => {}
                    Err(e) => {
                        let _ = signed.send(Err(format!("{e:#}")));
                    }
                }
            });
        }
    }
    Ok(())
}

/// What one event led to.
enum Reconciled {
    Approved,
    Signed,
    /// Already issued: nothing to do.
    Done,
}

async fn reconcile(
    sender: &mut Sender,
    pki: &Pki,
    mut csr: CertificateSigningRequest,
) -> anyhow::Result<Reconciled> {
    if !csr.status.certificate.is_empty() {
        return Ok(Reconciled::Done);
    }
    let name = csr.metadata.name.clone();
    if csr.status.conditions.is_empty() {
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: "Approved".to_string(),
                status: "True".to_string(),
                reason: "AutoApproved".to_string(),
                message: "Auto approving kubelet client certificate after SubjectAccessReview."
                    .to_string(),
                ..Default::default()
            });
        let body = serde_json::to_vec(&csr)?;
        call_whole(
            sender,
            http::Method::PUT,
            &format!("/csr-approval?{name}"),
            body.into(),
        )
        .await?;
        return Ok(Reconciled::Approved);
    }
    let request = pki::Csr::from_pem(&csr.spec.request)?;
    let certificate = pki.ca.sign_csr(
        &request,
        &[pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        None,
        Duration::from_secs(365 * 86_400),
        SystemTime::now(),
    )?;
    csr.status.certificate = certificate.into_bytes();
    let body = serde_json::to_vec(&csr)?;
    call_whole(
        sender,
        http::Method::PUT,
        &format!("/csr-status?{name}"),
        body.into(),
    )
    .await?;
    Ok(Reconciled::Signed)
}
