//! Real boot: the live image this repository builds (scripts/live-image.sh), booted
//! in QEMU virtual machines behind sushy-emulator's libvirt driver (scripts/vm-lab.sh),
//! through Rackstate's real Redfish calls. The VMs' firmware, kernel, disks and NICs
//! are real to the agent; their disks are files this test reads afterwards.
//!
//! Runs when `RACKSTATE_TEST_LIVE_ISO` names the built image (`make test` builds it
//! and sets it) on a machine with /dev/kvm; otherwise it says why it is skipped.

mod common;

use app::backend::secrets::SecretString;
use app::backend::services::servers::BmcChange;
use app::backend::services::{Actor, NewServer, StateChange};
use app::domain::EventKind;
use app::domain::power::PowerState;
use app::domain::{Action, ServerState};
use common::{TestApp, latest_job, spawn_app_with, wait_for_server};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Lab {
    bmc: String,
    user: String,
    password: String,
    virt: String,
    /// How long the emulator took to show the slowest machine the first time.
    #[serde(default)]
    emulator_seconds: u64,
    machines: Vec<Vm>,
}

#[derive(Deserialize)]
struct Vm {
    name: String,
    firmware: String,
    uuid: String,
    cpus: u32,
    memory_mib: u64,
    disks: Vec<VmDisk>,
    macs: Vec<String>,
    console: String,
}

#[derive(Deserialize)]
struct VmDisk {
    serial: String,
    size_mib: u64,
    path: String,
}

/// The VM lab for one test run: its machines are undefined when it drops.
struct LabGuard {
    script: PathBuf,
    dir: PathBuf,
    prefix: String,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["down", &self.dir.display().to_string()])
            .env("RACKSTATE_VM_PREFIX", &self.prefix)
            .status();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why this machine cannot run the VMs, if it cannot.
fn skip_reason() -> Option<String> {
    if !Path::new("/dev/kvm").exists() {
        return Some("/dev/kvm is missing: this machine cannot run the virtual bare metal".into());
    }
    for var in ["RACKSTATE_TEST_LIVE_ISO", "RACKSTATE_TEST_OS_IMAGE"] {
        match std::env::var(var) {
            Ok(p) if Path::new(&p).is_file() => {}
            Ok(p) => return Some(format!("{var}={p} is not a file")),
            Err(_) => {
                return Some(format!(
                    "{var} is not set (`make test` builds the live image and the test OS and sets them)"
                ));
            }
        }
    }
    None
}

/// Serves the test OS image at `/os.img` and records the reports of machines that
/// booted it (`/booted?host=..&keys=..&drive=..`); returns the port.
async fn image_and_report_server(image: Vec<u8>, reports: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/os.img", axum::routing::get(move || async move { image.clone() })).route(
        "/booted",
        axum::routing::get(move |q: axum::extract::RawQuery| async move {
            reports.lock().unwrap().push(q.0.unwrap_or_default());
            "ok"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// Writes a recognisable pattern over a whole disk file (a tenant's data).
fn fill_with_data(path: &str, serial: &str) {
    let block = format!("tenant data on {serial} ").repeat(1 << 12);
    let len = std::fs::metadata(path).unwrap().len() as usize;
    let mut bytes = block.as_bytes().repeat(len / block.len() + 1);
    bytes.truncate(len);
    std::fs::write(path, bytes).unwrap();
}

/// How many 4 KiB blocks of a disk file still hold the tenant's pattern.
fn blocks_with_data(path: &str, serial: &str) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let needle = format!("tenant data on {serial}");
    bytes.chunks(4096).filter(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes())).count()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// The BMC's view of a system, read straight from the emulator: its power, and
/// whether any virtual media slot of the system or its managers holds media.
async fn bmc_view(lab: &Lab, vm: &Vm) -> (String, bool) {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let r = client.get(format!("{}{path}", lab.bmc)).basic_auth(&lab.user, Some(&lab.password)).send().await;
            r.unwrap().json::<serde_json::Value>().await.unwrap()
        }
    };
    let id = |v: &serde_json::Value| v["@odata.id"].as_str().map(str::to_string);
    let system = get(format!("/redfish/v1/Systems/{}", vm.uuid)).await;
    let power = system["PowerState"].as_str().unwrap_or_default().to_string();
    let mut collections: Vec<String> = id(&system["VirtualMedia"]).into_iter().collect();
    for m in system["Links"]["ManagedBy"].as_array().cloned().unwrap_or_default() {
        if let Some(manager) = id(&m) {
            collections.extend(id(&get(manager).await["VirtualMedia"]));
        }
    }
    assert!(!collections.is_empty(), "{} has no virtual media", vm.name);
    let mut inserted = false;
    for c in collections {
        for d in get(c).await["Members"].as_array().cloned().unwrap_or_default() {
            let device = get(id(&d).unwrap()).await;
            inserted |=
                device["Inserted"].as_bool() == Some(true) || device["Image"].as_str().is_some_and(|i| !i.is_empty());
        }
    }
    (power, inserted)
}

fn server(name: &str, lab: &Lab, vm: &Vm, password: &str) -> NewServer {
    NewServer {
        name: name.into(),
        bmc_address: format!("{}/redfish/v1/Systems/{}", lab.bmc, vm.uuid),
        bmc_username: lab.user.clone(),
        bmc_password: Some(SecretString::new(password)),
        bmc_verify_tls: true,
        ..Default::default()
    }
}

/// Waits for the server's latest job of `kind` to end; returns its status, the time
/// since `since` and its steps.
async fn job_end(
    app: &TestApp,
    id: i64,
    kind: &str,
    since: Instant,
    timeout: Duration,
) -> (String, Duration, Vec<String>) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (job, steps) = latest_job(app, id).await;
        if job.kind.as_str() == kind && !job.status.is_active() {
            return (job.status.to_string(), since.elapsed(), steps);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} job of server {id} still {} after {timeout:?}: {steps:#?}",
            job.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The step log line that starts with `prefix`.
fn step<'a>(steps: &'a [String], prefix: &str) -> &'a str {
    steps.iter().find(|s| s.starts_with(prefix)).unwrap_or_else(|| panic!("no step {prefix:?} in {steps:#?}"))
}

/// An admin brings four QEMU machines in through their Redfish BMC (sushy-emulator on
/// libvirt). A mistyped BMC password fails at once and is fixed; three machines boot
/// the real live image from virtual CD and their agents report the VMs' real
/// hardware; the fourth never boots and fails at the agent timeout. A BMC address
/// that leads to another machine is refused before anything is touched. A tenant
/// allocates one with an operating system: it is written to the VM's disk and the VM
/// boots it, reading its config drive. Two are released: cleaning erases their disks
/// for real (the test reads the disk files: no tenant data, no system is left). A disk added to the third shows up as a
/// hardware change on re-registration. Decommissioning leaves a VM off with no media.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn virtual_bare_metal_lifecycle() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let iso = PathBuf::from(std::env::var("RACKSTATE_TEST_LIVE_ISO").unwrap());
    let iso_hash = sha256(&iso);
    let dir = tempfile::tempdir().unwrap();
    // libvirt's QEMU runs as its own user: it must reach the disk files.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = repo().join("scripts/vm-lab.sh");
    let prefix = "rstest-vm".to_string();
    let out = Command::new(&script)
        .args(["up", &dir.path().join("lab").display().to_string()])
        .env("RACKSTATE_VM_PREFIX", &prefix)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("running scripts/vm-lab.sh");
    let _guard = LabGuard { script: script.clone(), dir: dir.path().join("lab"), prefix };
    assert!(out.status.success(), "scripts/vm-lab.sh up failed");
    let lab: Lab =
        serde_json::from_slice(&std::fs::read(String::from_utf8_lossy(&out.stdout).trim()).unwrap()).unwrap();
    eprintln!("VM lab up in {:.1} s ({})", started.elapsed().as_secs_f64(), lab.virt);
    // A BMC that needs more than the default BMC timeout just to show a machine (this
    // machine's libvirt is that slow: measured 70-80 s per machine on a nested
    // hypervisor with TCG) cannot take VMs through a lifecycle in test time.
    if lab.emulator_seconds > 20 {
        eprintln!(
            "skipped: the BMC emulator took {} s to show one machine through this machine's libvirt \
             (more than a BMC timeout); the VM lifecycle needs a faster libvirt (see scripts/vm-lab.sh)",
            lab.emulator_seconds
        );
        return;
    }
    for vm in &lab.machines {
        for d in &vm.disks {
            fill_with_data(&d.path, &d.serial);
        }
    }

    let port = common::sushy::free_port();
    let agent_timeout = Duration::from_secs(180);
    let app = spawn_app_with(|s| {
        s.workers = 8;
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.live_image = Some(iso.clone());
        // The guests reach this machine's loopback at QEMU's user-network host address;
        // the BMC emulator downloads the image over loopback.
        s.agent_url = Some(format!("http://10.0.2.2:{port}"));
        s.media_url = Some(format!("http://127.0.0.1:{port}"));
        s.agent_timeout = agent_timeout;
        s.power_sync = None;
        // sushy-emulator on libvirt is a slow BMC where libvirt is slow (TCG, a nested
        // hypervisor): each call may wait behind another machine's libvirt work. As in
        // production, a slow BMC gets time (RACKSTATE_BMC_TIMEOUT_SECONDS) and a BMC that
        // does not answer is tried again, not given up on.
        s.bmc_timeout = Duration::from_secs(90);
        s.bmc_retries = 3;
        s.bmc_retry_base = Duration::from_secs(2);
    })
    .await;
    let admin = Actor::user("admin");
    let [vm1, vm2, vm3, vm4] = &lab.machines[..] else { panic!("the lab has four machines") };

    // A mistyped BMC password: refused at once, nothing powered on.
    let t = Instant::now();
    let dud = app.backend.add_server(&admin, &server("vm4", &lab, vm4, "not-the-password")).await.unwrap();
    let (status, _, steps) = job_end(&app, dud.id, "register", t, Duration::from_secs(60)).await;
    assert_eq!(status, "failed");
    assert!(step(&steps, "failed: ").contains("credentials refused"), "{steps:#?}");
    assert_eq!(bmc_view(&lab, vm4).await.0, "Off");
    eprintln!("wrong BMC password refused in {:.1} s", t.elapsed().as_secs_f64());

    // Registration of the three good machines, and of the fourth with its password
    // fixed (it has too little memory to boot the image).
    let t = Instant::now();
    let mut ids = vec![];
    for (name, vm) in [("vm1", vm1), ("vm2", vm2), ("vm3", vm3)] {
        ids.push(app.backend.add_server(&admin, &server(name, &lab, vm, &lab.password)).await.unwrap().id);
    }
    let current = app.backend.server(dud.id).await.unwrap();
    let change = BmcChange {
        address: current.bmc_address.clone(),
        username: lab.user.clone(),
        password: Some(SecretString::new(&lab.password)),
        verify_tls: true,
        generation: current.generation,
    };
    app.backend.change_bmc(&admin, dud.id, &change).await.unwrap();
    app.backend.retry_job(&admin, dud.id).await.unwrap();
    let dud_started = Instant::now();

    let wait = agent_timeout + Duration::from_secs(300);
    let ends = tokio::join!(
        job_end(&app, ids[0], "register", t, wait),
        job_end(&app, ids[1], "register", t, wait),
        job_end(&app, ids[2], "register", t, wait),
    );
    let ends = [ends.0, ends.1, ends.2];
    for ((id, vm), (status, took, steps)) in ids.iter().zip([vm1, vm2, vm3]).zip(ends) {
        let console = std::fs::read_to_string(&vm.console).unwrap_or_default();
        assert_eq!(status, "succeeded", "{}: {steps:#?}\nconsole:\n{console}", vm.name);
        let boot = console.lines().find(|l| l.contains("starting the agent after")).unwrap_or("(no console line)");
        eprintln!("{} ({}) registered in {:.1} s ({})", vm.name, vm.firmware, took.as_secs_f64(), boot.trim());
        let s = app.backend.server(*id).await.unwrap();
        assert_eq!(s.state, ServerState::Unavailable, "{}", vm.name);
        assert!(s.server_type.is_some(), "{} has a type", vm.name);
        assert_eq!(s.power_state, PowerState::Off);
        assert_eq!(bmc_view(&lab, vm).await, ("Off".to_string(), false), "{} off, media ejected", vm.name);
        assert!(!steps.iter().any(|m| m.starts_with("could not clear the boot override")), "{steps:#?}");
        // The stored inventory is the VM definition.
        let inv = app.backend.latest_inventory(*id).await.unwrap().unwrap();
        assert_eq!(inv.logical_cores(), vm.cpus, "{} CPUs", vm.name);
        let mib: u64 = inv.memory.iter().map(|m| m.size_mib).sum();
        assert_eq!(mib, vm.memory_mib, "{} memory: {:?}", vm.name, inv.memory);
        assert_eq!(inv.system.uuid.to_lowercase(), vm.uuid, "{} system UUID", vm.name);
        let mut disks: Vec<(String, u64)> = inv.disks.iter().map(|d| (d.serial.clone(), d.size_bytes)).collect();
        disks.sort();
        let mut want: Vec<(String, u64)> = vm.disks.iter().map(|d| (d.serial.clone(), d.size_mib << 20)).collect();
        want.sort();
        assert_eq!(disks, want, "{} disks (serial, bytes)", vm.name);
        let mut macs: Vec<String> = inv.nics.iter().map(|n| n.mac.to_lowercase()).collect();
        macs.sort();
        let mut want_macs = vm.macs.clone();
        want_macs.sort();
        assert_eq!(macs, want_macs, "{} NICs", vm.name);
    }
    eprintln!("three registrations done {:.1} s after they started", t.elapsed().as_secs_f64());
    // A BMC address that now leads to another machine (here vm2's BMC under another
    // name): vm1's re-registration stops before touching it, and vm2 stays off.
    let t = Instant::now();
    let wrong = app.backend.server(ids[0]).await.unwrap();
    let other = format!("{}/redfish/v1/Systems/{}", lab.bmc.replace("127.0.0.1", "localhost"), vm2.uuid);
    let point = |address: String, generation: i64| BmcChange {
        address,
        username: lab.user.clone(),
        password: Some(SecretString::new(&lab.password)),
        verify_tls: true,
        generation,
    };
    app.backend.change_bmc(&admin, ids[0], &point(other, wrong.generation)).await.unwrap();
    app.backend.change_state(&admin, ids[0], &StateChange::new(Action::ReRegister)).await.unwrap();
    let (status, _, steps) = job_end(&app, ids[0], "register", t, Duration::from_secs(60)).await;
    assert_eq!(status, "failed");
    let failed = step(&steps, "failed: ");
    assert!(failed.contains("identity_mismatch") && failed.contains(&vm2.uuid), "{steps:#?}");
    assert_eq!(bmc_view(&lab, vm2).await, ("Off".to_string(), false), "the other machine was not touched");
    let back = app.backend.server(ids[0]).await.unwrap();
    let address = format!("{}/redfish/v1/Systems/{}", lab.bmc, vm1.uuid);
    app.backend.change_bmc(&admin, ids[0], &point(address, back.generation)).await.unwrap();
    eprintln!("a BMC leading to another machine refused in {:.1} s", t.elapsed().as_secs_f64());

    // A tenant allocates vm1 with the test OS and an SSH key: the image is written to
    // its disk, and the VM boots from that disk (media ejected), reads its config
    // drive and reports its host name.
    let t = Instant::now();
    let os = std::fs::read(std::env::var("RACKSTATE_TEST_OS_IMAGE").unwrap()).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let os_port = image_and_report_server(os.clone(), reports.clone()).await;
    let sum: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&os).iter().map(|b| format!("{b:02x}")).collect()
    };
    let image = app::domain::images::NewImage {
        name: "test-os".into(),
        url: format!("http://10.0.2.2:{os_port}/os.img"),
        sha256: sum,
        format: "raw".into(),
        min_disk_gib: None,
    };
    app.backend.add_image(&admin, &image).await.unwrap();
    let tenant =
        app.backend.create_user(&admin, "acme", common::USER_PASSWORD, app::domain::Role::Tenant).await.unwrap();
    app.backend.change_state(&admin, ids[0], &StateChange::new(Action::SetAvailable)).await.unwrap();
    let request = app::backend::services::allocation::AllocationRequest {
        server_type: app.backend.server(ids[0]).await.unwrap().server_type.unwrap(),
        count: 1,
        image: Some("test-os".into()),
        ssh_keys: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZtLWxhYi10ZXN0LWtleQ acme@laptop".into(),
        user_data: format!("#cloud-config\n#report http://10.0.2.2:{os_port}/booted\n"),
        ..Default::default()
    };
    let deployment = app.backend.allocate(&tenant, &request).await.unwrap();
    assert_eq!(deployment.servers.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[0]]);
    let (status, took, steps) = job_end(&app, ids[0], "deploy", t, wait).await;
    let console = std::fs::read_to_string(&vm1.console).unwrap_or_default();
    assert_eq!(status, "succeeded", "{steps:#?}\nconsole:\n{console}");
    eprintln!("vm1 deployed in {:.1} s: {}", took.as_secs_f64(), step(&steps, "write_image: "));
    assert!(step(&steps, "write_image: ").contains("config drive (cloud-init NoCloud: host name vm1, 1 SSH key(s)"));
    let deadline = Instant::now() + Duration::from_secs(240);
    let report = loop {
        if let Some(r) = reports.lock().unwrap().first().cloned() {
            break r;
        }
        let console = std::fs::read_to_string(&vm1.console).unwrap_or_default();
        assert!(Instant::now() < deadline, "vm1 never reported from its disk; console:\n{console}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(report.starts_with("host=vm1&keys=1&drive="), "{report}");
    let (power, media) = bmc_view(&lab, vm1).await;
    assert_eq!((power.as_str(), media), ("On", false), "vm1 runs its own system, the live image ejected");
    eprintln!("vm1 booted from its disk and reported ({report}) {:.1} s after allocation", t.elapsed().as_secs_f64());

    // Release and a plain allocation: cleaning erases vm1's and vm2's disks.
    let t = Instant::now();
    let system = Actor::system("allocator");
    let s = app.backend.release(&tenant, deployment.id, None).await.unwrap();
    assert_eq!(s.released.len(), 1);
    for id in &ids[1..2] {
        app.backend.change_state(&admin, *id, &StateChange::new(Action::SetAvailable)).await.unwrap();
        app.backend.change_state(&system, *id, &StateChange::new(Action::Allocate)).await.unwrap();
        let s = app.backend.change_state(&system, *id, &StateChange::new(Action::Release)).await.unwrap();
        assert_eq!(s.state, ServerState::Cleaning);
    }
    // Meanwhile a disk is added to vm3 (off) and it is registered again.
    let added = dir.path().join("lab/disks/added.img");
    std::fs::write(&added, vec![0u8; 48 << 20]).unwrap();
    let attach = Command::new("virsh")
        .args(["-c", "qemu:///system", "attach-disk", &vm3.name, &added.display().to_string(), "vdb"])
        .args(["--config", "--targetbus", "virtio", "--serial", "RS3-ADDED0"])
        .status()
        .unwrap();
    assert!(attach.success(), "virsh attach-disk");
    let before = app.backend.server(ids[2]).await.unwrap();
    app.backend.change_state(&admin, ids[2], &StateChange::new(Action::ReRegister)).await.unwrap();

    let (clean1, clean2, reregistered) = tokio::join!(
        job_end(&app, ids[0], "clean", t, wait),
        job_end(&app, ids[1], "clean", t, wait),
        job_end(&app, ids[2], "register", t, wait),
    );
    let ends = [clean1, clean2];
    for ((id, vm), (status, took, steps)) in ids[..2].iter().zip([vm1, vm2]).zip(ends) {
        assert_eq!(status, "succeeded", "{}: {steps:#?}", vm.name);
        eprintln!("{} cleaned in {:.1} s: {}", vm.name, took.as_secs_f64(), step(&steps, "erase_disks: "));
        assert!(step(&steps, "erase_disks: ").contains(&format!("ok: {} disk(s) erased and verified", vm.disks.len())));
        assert_eq!(app.backend.server(*id).await.unwrap().state, ServerState::Available);
        assert_eq!(bmc_view(&lab, vm).await, ("Off".to_string(), false), "{} off, media ejected", vm.name);
        for d in &vm.disks {
            assert_eq!(blocks_with_data(&d.path, &d.serial), 0, "{} still holds tenant data", d.serial);
            let bytes = std::fs::read(&d.path).unwrap();
            assert!(!bytes.windows(8).any(|w| w == b"EFI PART"), "{}: the deployed system is erased", d.serial);
        }
    }
    // vm3 was not cleaned: its data is still there (the test can tell).
    assert!(blocks_with_data(&vm3.disks[0].path, &vm3.disks[0].serial) > 0);
    assert_eq!(sha256(&iso), iso_hash, "the live image is untouched");
    eprintln!("cleaning of two machines done in {:.1} s", t.elapsed().as_secs_f64());

    let (status, took, steps) = reregistered;
    assert_eq!(status, "succeeded", "{steps:#?}");
    eprintln!("vm3 re-registered in {:.1} s", took.as_secs_f64());
    let after = app.backend.server(ids[2]).await.unwrap();
    assert!(after.generation > before.generation);
    let events = app.backend.server_events(ids[2]).await.unwrap();
    let inventory = events.iter().rev().find(|e| e.kind == EventKind::Inventory).unwrap();
    let changes: Vec<app::domain::inventory::Change> =
        serde_json::from_str(inventory.details.as_deref().unwrap_or("[]")).unwrap();
    assert!(
        changes.iter().any(|c| c.component == "disk" && c.key == "RS3-ADDED0" && c.kind() == "added"),
        "{changes:?}"
    );

    // The machine that never boots: its agent never reported.
    let (status, took, steps) = job_end(&app, dud.id, "register", dud_started, wait).await;
    eprintln!("vm4 (never boots) failed after {:.1} s", took.as_secs_f64());
    assert_eq!(status, "failed");
    assert!(step(&steps, "failed: ").contains("did not report within 3 minutes"), "{steps:#?}");
    assert_eq!(
        bmc_view(&lab, vm4).await,
        ("Off".to_string(), false),
        "the job powers off and ejects a machine that never booted"
    );

    // Decommission vm3 (unavailable after its re-registration): off, media out.
    let t = Instant::now();
    app.backend.change_state(&admin, ids[2], &StateChange::new(Action::Decommission)).await.unwrap();
    let s = wait_for_server(&app, ids[2], Duration::from_secs(120), |s| s.state == ServerState::Decommissioned).await;
    assert_eq!(s.power_state, PowerState::Off);
    assert_eq!(bmc_view(&lab, vm3).await, ("Off".to_string(), false));
    eprintln!(
        "vm3 decommissioned in {:.1} s; whole run {:.1} s",
        t.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
