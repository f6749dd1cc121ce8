//! Deploying an operating system image to allocated servers: the catalog, the deploy
//! job (live image, `write_image` by the agent, boot from disk), its failures, and
//! re-deploying. The demo lab's machines (disks are files), on SQLite or PostgreSQL.

mod common;

use app::backend::services::allocation::AllocationRequest;
use app::backend::services::{Actor, StateChange};
use app::domain::EventKind;
use app::domain::JobStatus;
use app::domain::images::NewImage;
use app::domain::{Action, Role, ServerState};
use app::model::UserView;
use common::{TestApp, USER_PASSWORD, spawn_app_with, wait_for_server};
use sha2::Digest;
use std::time::Duration;

/// An HTTP server on loopback with `/os.raw` (the image) and nothing else; its base URL.
async fn image_server(image: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/os.raw", axum::routing::get(move || async move { image.clone() }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A 1 MiB "operating system": recognisable bytes.
fn os_image() -> Vec<u8> {
    (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One registered lab machine made available, and a tenant.
async fn lab_app() -> (TestApp, i64, UserView) {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    wait_jobs(&app, id).await;
    app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    let tenant = app.backend.create_user(&Actor::user("admin"), "acme", USER_PASSWORD, Role::Tenant).await.unwrap();
    (app, id, tenant)
}

async fn wait_jobs(app: &TestApp, id: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.backend.has_active_job(id).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "a job still runs on server {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn add_image(app: &TestApp, name: &str, url: &str, sha: &str, min_disk_gib: Option<i64>) {
    let new = NewImage { name: name.into(), url: url.into(), sha256: sha.into(), format: "raw".into(), min_disk_gib };
    app.backend.add_image(&Actor::user("admin"), &new).await.unwrap();
}

/// The tenant allocates with an image; the deploy job ends and says what it did.
async fn allocate_with(app: &TestApp, tenant: &UserView, id: i64, image: &str) -> app::model::DeployView {
    let label = app.backend.server(id).await.unwrap().server_type.unwrap();
    let req = AllocationRequest {
        tenant: None,
        server_type: label,
        count: 1,
        image: Some(image.into()),
        ..Default::default()
    };
    let d = app.backend.allocate(tenant, &req).await.unwrap();
    assert_eq!(d.image.as_deref(), Some(image));
    wait_jobs(app, id).await;
    app.backend.deploy_status(tenant, id).await.unwrap().expect("a deployment")
}

/// The first `n` bytes of the lab machine's first disk.
fn disk_head(app: &TestApp, n: usize) -> Vec<u8> {
    let machine = app.lab[0].simulated().unwrap();
    let serial = &app.lab[0].hardware().disks[0].serial;
    let bytes = std::fs::read(machine.disk_path(serial)).unwrap();
    bytes[..n].to_vec()
}

/// A tenant allocates a server with an image from the catalog: the live image's agent
/// writes it to the root disk and verifies it, the media is ejected and the server
/// boots from its disk; the disk holds exactly the image. Releasing cleans it.
#[tokio::test]
async fn allocation_with_an_image_deploys_it() {
    let (app, id, tenant) = lab_app().await;
    let image = os_image();
    let base = image_server(image.clone()).await;
    add_image(&app, "tiny-os", &format!("{base}/os.raw"), &sha256(&image), None).await;
    let seen = allocate_with(&app, &tenant, id, "tiny-os").await;
    assert_eq!((seen.status.as_str(), seen.image.as_deref()), ("succeeded", Some("tiny-os")), "{seen:?}");
    assert!(
        seen.steps.iter().any(|m| m.starts_with("write_image: ok: 1048576 bytes written to disk0")),
        "{:?}",
        seen.steps
    );
    assert!(seen.steps.iter().any(|m| m.starts_with("deployed: tiny-os written and verified")), "{:?}", seen.steps);
    assert_eq!(disk_head(&app, image.len()), image, "the disk holds the image");
    assert!(app.lab[0].powered_on(), "the server runs its new system");
    assert_eq!(app.lab[0].boot_override(), ("Hdd".to_string(), "Continuous".to_string()));
    let s = app.backend.server(id).await.unwrap();
    assert_eq!((s.state, s.reserved_for.as_deref()), (ServerState::Used, Some("acme")));
    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::DeployRequested && e.to_value.as_deref() == Some("tiny-os")));

    let deployment = s.deployment_id.unwrap();
    app.backend.release(&tenant, deployment, None).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    assert_ne!(disk_head(&app, 4096), image[..4096].to_vec(), "cleaning erased the system");
}

/// A wrong checksum in the catalog fails the deploy with both checksums named; the
/// server stays the tenant's, powered off, not booted from the unverified disk.
#[tokio::test]
async fn wrong_checksum_fails_the_deploy() {
    let (app, id, tenant) = lab_app().await;
    let base = image_server(os_image()).await;
    add_image(&app, "bad-sum", &format!("{base}/os.raw"), &"0".repeat(64), None).await;
    let seen = allocate_with(&app, &tenant, id, "bad-sum").await;
    assert_eq!(seen.status, JobStatus::Failed);
    let error = seen.error.unwrap();
    assert!(error.contains("checksum mismatch") && error.contains(&"0".repeat(64)), "{error}");
    let s = app.backend.server(id).await.unwrap();
    assert_eq!(s.state, ServerState::Used);
    assert!(!app.lab[0].powered_on());
    assert_ne!(app.lab[0].boot_override().1, "Continuous");
}

/// An image that is not there (404) and one too big for the server's disks fail
/// with their reasons; the tenant then re-deploys a good image, and it works.
#[tokio::test]
async fn missing_image_and_too_small_disk_fail_then_redeploy_works() {
    let (app, id, tenant) = lab_app().await;
    let image = os_image();
    let base = image_server(image.clone()).await;
    add_image(&app, "gone", &format!("{base}/nothing-here.raw"), &sha256(&image), None).await;
    let seen = allocate_with(&app, &tenant, id, "gone").await;
    assert_eq!(seen.status, JobStatus::Failed);
    assert!(seen.error.as_deref().unwrap().contains("HTTP 404"), "{seen:?}");

    add_image(&app, "huge", &format!("{base}/os.raw"), &sha256(&image), Some(64)).await;
    app.backend.redeploy(&tenant, id, "huge").await.unwrap();
    wait_jobs(&app, id).await;
    let seen = app.backend.deploy_status(&tenant, id).await.unwrap().unwrap();
    assert_eq!(seen.status, JobStatus::Failed);
    assert!(seen.error.as_deref().unwrap().contains("no suitable disk"), "{seen:?}");

    add_image(&app, "good", &format!("{base}/os.raw"), &sha256(&image), None).await;
    app.backend.redeploy(&tenant, id, "good").await.unwrap();
    wait_jobs(&app, id).await;
    let seen = app.backend.deploy_status(&tenant, id).await.unwrap().unwrap();
    assert_eq!((seen.status.as_str(), seen.image.as_deref()), ("succeeded", Some("good")), "{seen:?}");
    assert_eq!(disk_head(&app, image.len()), image);
}

/// The catalog refuses what it cannot use: wrong fields (all named), a taken name,
/// a host outside the BMC networks; a retired image cannot be chosen, and only the
/// server's tenant, operators and admins may re-deploy it.
#[tokio::test]
async fn catalog_rules_and_who_may_deploy() {
    let app = spawn_app_with(|s| {
        s.bmc_networks = app::domain::bmc_address::BmcNetworks::parse("127.0.0.0/8").unwrap();
    })
    .await;
    let admin = Actor::user("admin");
    let bad = NewImage {
        name: "a b".into(),
        url: "ftp://x".into(),
        sha256: "12".into(),
        format: "vhd".into(),
        min_disk_gib: None,
    };
    let e = app.backend.add_image(&admin, &bad).await.unwrap_err();
    assert_eq!(e.code(), "invalid_field");
    for field in ["name:", "url:", "sha256:", "format:"] {
        assert!(e.to_string().contains(field), "{field} in {e}");
    }
    let outside = NewImage {
        name: "elsewhere".into(),
        url: "http://192.0.2.10/os.raw".into(),
        sha256: "a".repeat(64),
        format: "raw".into(),
        min_disk_gib: None,
    };
    let e = app.backend.add_image(&admin, &outside).await.unwrap_err();
    assert!(e.to_string().starts_with("url: not allowed"), "{e}");
    let ok = NewImage { name: "os".into(), url: "http://127.0.0.1:9/os.raw".into(), ..outside.clone() };
    let image = app.backend.add_image(&admin, &ok).await.unwrap();
    assert_eq!(app.backend.add_image(&admin, &ok).await.unwrap_err().code(), "conflict");
    app.backend.retire_image(&admin, image.id).await.unwrap();
    assert!(app.backend.images(false).await.unwrap().is_empty());
    assert_eq!(app.backend.images(true).await.unwrap().len(), 1);

    let (servers, label) = common::typed_available(&app, "d", 0, 1).await;
    let tenant = app.backend.create_user(&admin, "acme", USER_PASSWORD, Role::Tenant).await.unwrap();
    let req = AllocationRequest {
        tenant: None,
        server_type: label,
        count: 1,
        image: Some("os".into()),
        ..Default::default()
    };
    let e = app.backend.allocate(&tenant, &req).await.unwrap_err();
    assert!(e.to_string().contains("retired"), "{e}");
    assert_eq!(app.backend.server(servers[0].id).await.unwrap().state, ServerState::Available, "nothing allocated");

    let req = AllocationRequest { image: None, ..req };
    app.backend.allocate(&tenant, &req).await.unwrap();
    let rival = app.backend.create_user(&admin, "rival", USER_PASSWORD, Role::Tenant).await.unwrap();
    let viewer = app.backend.create_user(&admin, "watcher", USER_PASSWORD, Role::Viewer).await.unwrap();
    assert_eq!(app.backend.redeploy(&rival, servers[0].id, "os").await.unwrap_err().code(), "not_found");
    assert_eq!(app.backend.redeploy(&viewer, servers[0].id, "os").await.unwrap_err().code(), "forbidden");
    let e = app.backend.redeploy(&tenant, servers[0].id, "os").await.unwrap_err();
    assert!(e.to_string().contains("retired"), "{e}");
}

/// A tenant allocates with SSH keys and user data: after the image (an MBR disk
/// image), the root disk gets a CIDATA partition whose meta-data names the server's
/// host name and the key, and whose user-data is the tenant's. An image without a
/// partition table cannot carry them: that deploy fails saying so.
#[tokio::test]
async fn ssh_keys_and_user_data_go_on_a_config_drive() {
    let (app, id, tenant) = lab_app().await;
    let mut image = os_image();
    image[446..510].fill(0);
    image[510] = 0x55;
    image[511] = 0xAA;
    image[446 + 4] = 0x83; // one Linux partition
    let base = image_server(image.clone()).await;
    add_image(&app, "mbr-os", &format!("{base}/os.raw"), &sha256(&image), None).await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx5bGFiLWtleS1mb3ItdGVzdHM acme@laptop";
    let label = app.backend.server(id).await.unwrap().server_type.unwrap();
    let req = AllocationRequest {
        server_type: label.clone(),
        count: 1,
        image: Some("mbr-os".into()),
        ssh_keys: format!("{key}\n"),
        user_data: "#cloud-config\nruncmd: [touch /tmp/hello]\n".into(),
        ..Default::default()
    };
    app.backend.allocate(&tenant, &req).await.unwrap();
    wait_jobs(&app, id).await;
    let seen = app.backend.deploy_status(&tenant, id).await.unwrap().unwrap();
    assert_eq!(seen.status, JobStatus::Succeeded, "{seen:?}");
    assert!(
        seen.steps.iter().any(|m| m.contains(
            "config drive (cloud-init NoCloud: host name lab-01, 1 SSH key(s), user data) in MBR partition 2"
        )),
        "{:?}",
        seen.steps
    );
    let disk = disk_head(&app, 3 * 1024 * 1024);
    assert_eq!(disk[446 + 16 + 4], 0x01, "a second MBR partition");
    let start = u32::from_le_bytes(disk[446 + 16 + 8..446 + 16 + 12].try_into().unwrap()) as usize * 512;
    let drive = String::from_utf8_lossy(&disk[start..start + 1024 * 1024]);
    assert!(drive.contains("local-hostname: \"lab-01\""), "meta-data names the host");
    assert!(drive.contains(&format!("- \"{key}\"")), "meta-data lists the key");
    assert!(drive.contains("runcmd: [touch /tmp/hello]"), "user-data as given");
    assert_eq!(&disk[start + 43..start + 49], b"CIDATA");

    // Keys without an image are refused before anything is allocated; keys for an
    // image without a partition table fail the deploy.
    let server = app.backend.server(id).await.unwrap();
    app.backend.release(&tenant, server.deployment_id.unwrap(), None).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    let e = app.backend.allocate(&tenant, &AllocationRequest { image: None, ..req.clone() }).await.unwrap_err();
    assert!(e.to_string().starts_with("image:"), "{e}");
    add_image(&app, "no-table", &format!("{}/os.raw", image_server(os_image()).await), &sha256(&os_image()), None)
        .await;
    app.backend.allocate(&tenant, &AllocationRequest { image: Some("no-table".into()), ..req }).await.unwrap();
    wait_jobs(&app, id).await;
    let seen = app.backend.deploy_status(&tenant, id).await.unwrap().unwrap();
    assert_eq!(seen.status, JobStatus::Failed);
    assert!(seen.error.unwrap().contains("config drive could not be: the image has no partition table"));
}

/// A qcow2 image (made by qemu-img, compressed) is downloaded to the disk's tail,
/// checked, converted onto the front of the disk and the tail cleared: the disk holds
/// the raw bytes it describes.
#[tokio::test]
async fn qcow2_images_are_converted_onto_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = os_image();
    std::fs::write(dir.path().join("os.raw"), &raw).unwrap();
    let made = std::process::Command::new("qemu-img")
        .args(["convert", "-c", "-f", "raw", "-O", "qcow2"])
        .arg(dir.path().join("os.raw"))
        .arg(dir.path().join("os.qcow2"))
        .output();
    let Ok(out) = made else {
        eprintln!("skipped: qemu-img is not installed (make test installs it with the VM lab)");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let qcow = std::fs::read(dir.path().join("os.qcow2")).unwrap();
    let (app, id, tenant) = lab_app().await;
    let base = image_server(qcow.clone()).await;
    let new = NewImage {
        name: "tiny-qcow".into(),
        url: format!("{base}/os.raw"),
        sha256: sha256(&qcow),
        format: "qcow2".into(),
        min_disk_gib: None,
    };
    app.backend.add_image(&Actor::user("admin"), &new).await.unwrap();
    let seen = allocate_with(&app, &tenant, id, "tiny-qcow").await;
    assert_eq!(seen.status, JobStatus::Succeeded, "{seen:?}");
    let want = format!("write_image: ok: qcow2 ({} bytes) converted to 1048576 bytes written to disk0", qcow.len());
    assert!(seen.steps.iter().any(|m| m.starts_with(&want)), "{want} in {:?}", seen.steps);
    let disk = disk_head(&app, 3 * 1024 * 1024);
    assert!(disk[..raw.len()] == raw[..], "the disk holds the raw image");
    let tail = 3 * 1024 * 1024 - qcow.len().div_ceil(1024 * 1024) * 1024 * 1024;
    let stray = disk[tail..tail + qcow.len()].iter().position(|b| *b != 0);
    assert_eq!(stray, None, "the downloaded qcow2 ({} bytes) is not left at the tail", qcow.len());
}

/// An operator names the server's second disk as its root disk: the image goes there
/// and the first disk keeps what it held. A serial the server does not have is
/// refused naming its disks; a viewer may not choose.
#[tokio::test]
async fn a_root_disk_hint_picks_the_disk() {
    let (app, id, tenant) = lab_app().await;
    let operator = app.backend.create_user(&Actor::user("admin"), "olga", USER_PASSWORD, Role::Operator).await.unwrap();
    let viewer = app.backend.create_user(&Actor::user("admin"), "watcher", USER_PASSWORD, Role::Viewer).await.unwrap();
    let disks = app.lab[0].hardware().disks;
    let e = app.backend.set_root_disk(&operator, id, Some("NOPE")).await.unwrap_err();
    assert!(e.to_string().contains(&disks[1].serial), "{e}");
    assert_eq!(app.backend.set_root_disk(&viewer, id, Some(&disks[1].serial)).await.unwrap_err().code(), "forbidden");
    app.backend.set_root_disk(&operator, id, Some(&disks[1].serial)).await.unwrap();
    let before = disk_head(&app, 4096);
    let image = os_image();
    let base = image_server(image.clone()).await;
    add_image(&app, "tiny-os", &format!("{base}/os.raw"), &sha256(&image), None).await;
    let seen = allocate_with(&app, &tenant, id, "tiny-os").await;
    assert!(
        seen.steps.iter().any(|m| m.starts_with("write_image: ok: 1048576 bytes written to disk1")),
        "{:?}",
        seen.steps
    );
    assert_eq!(disk_head(&app, 4096), before, "the first disk is untouched");
    let machine = app.lab[0].simulated().unwrap();
    let second = std::fs::read(machine.disk_path(&disks[1].serial)).unwrap();
    assert!(second[..image.len()] == image[..]);
    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::RootDiskSet && e.actor == "olga"));
}
