//! Trust on first use of a self-signed BMC certificate, against sushy-emulator over
//! HTTPS: the first certificate is pinned; a BMC that comes back with another one
//! stops the next job before anything is sent, until an admin accepts it.

mod common;
use app::backend::secrets::SecretString;
use app::backend::services::{Actor, NewServer};
use app::domain::EventKind;
use app::domain::JobStatus;
use app::domain::ServerState;
use common::{spawn_app_with, sushy, wait_for_server};
use std::time::Duration;

/// A self-signed certificate for 127.0.0.1, written as PEM files; its SHA-256.
fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
    let fingerprint = rackstate_server::bmc::tls::fingerprint(cert.cert.der());
    (crt, key, fingerprint)
}

async fn failed_with(app: &common::TestApp, id: i64, job_before: i64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (job, _) = common::latest_job(app, id).await;
        if job.id > job_before && job.status == JobStatus::Failed {
            return job.last_error.unwrap_or_default();
        }
        assert!(tokio::time::Instant::now() < deadline, "the job did not end: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A self-signed BMC: pinned at the first registration; after its certificate
/// changes the next attempt stops at once with both fingerprints named; an admin
/// accepts the new one (audited) and the retry gets past the BMC again.
#[tokio::test]
async fn a_changed_bmc_certificate_stops_jobs_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (crt_a, key_a, fp_a) = self_signed(dir.path(), "a");
    let (crt_b, key_b, fp_b) = self_signed(dir.path(), "b");
    let port = sushy::free_port();
    let emu = sushy::start_tls(port, &crt_a, &key_a).await;
    // No live image: each registration ends right after the BMC steps, which is
    // all this needs.
    let app = spawn_app_with(|s| s.workers = 2).await;
    let admin = Actor::user("admin");
    let server = NewServer {
        name: "self-signed".into(),
        bmc_address: emu.system_address(0),
        bmc_username: sushy::USER.into(),
        bmc_password: Some(SecretString::new(sushy::PASSWORD)),
        bmc_verify_tls: false,
        ..Default::default()
    };
    let s = app.backend.add_server(&admin, &server).await.unwrap();
    let first = failed_with(&app, s.id, 0).await;
    assert!(first.contains("RACKSTATE_LIVE_IMAGE"), "{first}");
    let pin = app.backend.bmc_certificate(s.id).await.unwrap();
    assert_eq!((pin.pinned.as_deref(), pin.offered), (Some(fp_a.as_str()), None));

    // The BMC comes back with another certificate (a reset, or someone in between).
    drop(emu);
    let _emu = sushy::start_tls(port, &crt_b, &key_b).await;
    let before = common::latest_job(&app, s.id).await.0.id;
    app.backend.retry_job(&admin, s.id).await.unwrap();
    let stopped = failed_with(&app, s.id, before).await;
    assert!(stopped.contains("different TLS certificate"), "{stopped}");
    assert!(stopped.contains(&app::domain::tls_pin::display(&fp_b)), "{stopped}");
    let pin = app.backend.bmc_certificate(s.id).await.unwrap();
    assert_eq!(pin.offered.as_deref(), Some(fp_b.as_str()));
    let server = wait_for_server(&app, s.id, Duration::from_secs(5), |_| true).await;
    assert_eq!(server.state, ServerState::Registering);

    app.backend.accept_bmc_certificate(&admin, s.id, &app::domain::tls_pin::display(&fp_b)).await.unwrap();
    let before = common::latest_job(&app, s.id).await.0.id;
    app.backend.retry_job(&admin, s.id).await.unwrap();
    let again = failed_with(&app, s.id, before).await;
    assert!(again.contains("RACKSTATE_LIVE_IMAGE"), "past the BMC again: {again}");
    let kinds: Vec<EventKind> = app.backend.server_events(s.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    for kind in [EventKind::BmcCertificatePinned, EventKind::BmcCertificateChanged, EventKind::BmcCertificateAccepted] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
}
