//! Command-line administration: `rackstate user add|set-password|list`.
//! Passwords are read from standard input (one line), never from arguments, so they
//! stay out of shell history and process lists.

use crate::settings::Settings;
use app::backend::services::Actor;
use app::backend::{Backend, Db};
use app::domain::Role;

pub const USAGE: &str = "usage:
  rackstate                                         serve (configured by RACKSTATE_* variables)
  rackstate user add --username U --role R          create a user; password from stdin
  rackstate user set-password --username U          set a password; password from stdin
  rackstate user list                               list users and roles
  rackstate agent [--print] [--cmdline FILE]        the live-image agent: report this machine's
                                                    hardware to the job named on the kernel
                                                    command line (rackstate.callback/job/token);
                                                    --print only prints the inventory as JSON
  rackstate lab --machines N [--dir D] [--boot-seconds S] [--bmc-delay-ms MS] [--vendor V]
                                                    simulated servers with Redfish BMCs on loopback,
                                                    as a process of their own; writes their BMC
                                                    addresses and logins to D/machines.json (and
                                                    stdout); a restart with the same D keeps them
roles: admin, operator, viewer, tenant";

/// Runs a CLI command; returns the process exit code.
pub async fn run(settings: &Settings, args: &[String]) -> u8 {
    match run_inner(settings, args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rackstate: {e}");
            if e.starts_with("usage") || e.contains("unknown") {
                eprintln!("{USAGE}");
            }
            2
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("usage: {name} is required"))
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn run_inner(settings: &Settings, args: &[String]) -> Result<(), String> {
    let (Some(group), Some(cmd)) = (args.first(), args.get(1)) else {
        return Err("usage: a command is required".into());
    };
    if group != "user" {
        return Err(format!("unknown command {group:?}"));
    }
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| format!("data directory: {e}"))?;
    let db = Db::connect(&settings.database_url, 2).await.map_err(|e| app::backend::error_chain(&e))?;
    db.migrate().await.map_err(|e| app::backend::error_chain(&e))?;
    let secrets =
        app::backend::secrets::SecretBox::load(settings.secret_key.as_ref().map(|s| s.0.as_str()), &settings.data_dir)
            .map_err(|e| e.to_string())?;
    let backend = Backend::new(db, secrets);
    let actor = Actor::system("command line");
    let rest = &args[2..];
    match cmd.as_str() {
        "add" => {
            let username = flag(rest, "--username")?;
            let role = flag(rest, "--role")?;
            let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}"))?;
            let password = read_password()?;
            let u = backend.create_user(&actor, username, &password, role).await.map_err(|e| e.user_message())?;
            println!("created {} ({})", u.username, u.role);
        }
        "set-password" => {
            let username = flag(rest, "--username")?;
            let password = read_password()?;
            backend.set_password(&actor, username, &password, None).await.map_err(|e| e.user_message())?;
            println!("password set for {username}; their sessions ended");
        }
        "list" => {
            for u in backend.list_users().await.map_err(|e| e.user_message())? {
                println!(
                    "{:<32} {:<9} {}",
                    u.username,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        other => return Err(format!("unknown user command {other:?}")),
    }
    backend.db.close().await;
    Ok(())
}

/// `rackstate agent`: runs without Rackstate's settings (it runs in the live image).
pub async fn agent(args: &[String]) -> u8 {
    use crate::agent::{
        self, BootConfig, Patience,
        hardware::{Hardware, LinuxHardware},
    };
    let hw = LinuxHardware::local();
    if args.iter().any(|a| a == "--print") {
        return match hw.inventory() {
            Ok(inv) => {
                println!("{}", serde_json::to_string_pretty(&inv).expect("inventory serializes"));
                0
            }
            Err(e) => {
                eprintln!("rackstate agent: {e}");
                1
            }
        };
    }
    let cmdline = flag(args, "--cmdline").unwrap_or("/proc/cmdline");
    let text = match std::fs::read_to_string(cmdline) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rackstate agent: reading {cmdline}: {e}");
            return 2;
        }
    };
    let Some(config) = BootConfig::parse(&text) else {
        eprintln!(
            "rackstate agent: {cmdline} has no rackstate.callback=, rackstate.job= and rackstate.token=; \
             is this the Rackstate live image? (see docs/live-image.md)"
        );
        return 2;
    };
    match agent::run(&config, &hw, &Patience::default()).await {
        Ok(run) => {
            println!(
                "rackstate agent: job {} accepted the inventory (type {}); {} step(s) to run",
                config.job,
                run.accepted.server_type,
                run.steps.steps.len()
            );
            0
        }
        Err(e) => {
            eprintln!("rackstate agent: {e}");
            1
        }
    }
}

/// The lab's vendor profiles, for messages.
pub fn vendor_names() -> String {
    let names: Vec<&str> = crate::lab::Vendor::ALL.iter().map(|v| v.as_str()).collect();
    format!("mixed (the default) or one of {}", names.join(", "))
}

/// `rackstate lab`: the demo lab's machines as their own process, so that stopping
/// Rackstate does not stop them (crash tests, demos of several replicas). Runs until
/// interrupted.
pub async fn lab(args: &[String]) -> u8 {
    use crate::lab::{Lab, LabConfig, MachineSpec};
    let run = async {
        let machines: usize = flag(args, "--machines")?
            .parse()
            .ok()
            .filter(|n| (1..=5000).contains(n))
            .ok_or("--machines: a number from 1 to 5000")?;
        let dir = std::path::PathBuf::from(flag(args, "--dir").unwrap_or("./lab"));
        let boot: f64 = match flag(args, "--boot-seconds") {
            Ok(s) => s.parse().ok().filter(|s: &f64| (0.0..=3600.0).contains(s)).ok_or("--boot-seconds: 0 to 3600")?,
            Err(_) => 3.0,
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let state = dir.join("machines.json");
        // A restart keeps the machines' ports, logins and disks.
        let specs = match std::fs::read_to_string(&state) {
            Ok(text) => {
                let saved: Vec<serde_json::Value> =
                    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", state.display()))?;
                saved
                    .iter()
                    .enumerate()
                    .map(|(i, m)| MachineSpec {
                        name: m["name"].as_str().unwrap_or_default().to_string(),
                        index: i + 1,
                        port: m["address"].as_str().and_then(|a| a.rsplit(':').next()?.parse().ok()).unwrap_or(0),
                        username: m["username"].as_str().unwrap_or_default().to_string(),
                        password: m["password"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            }
            Err(_) => Lab::specs(machines),
        };
        let bmc_delay: u64 = match flag(args, "--bmc-delay-ms") {
            Ok(s) => s.parse().ok().filter(|d| *d <= 60_000).ok_or("--bmc-delay-ms: 0 to 60000")?,
            Err(_) => 0,
        };
        let vendor = match flag(args, "--vendor") {
            Ok("mixed") | Err(_) => None,
            Ok(v) => Some(crate::lab::Vendor::parse(v).ok_or_else(|| format!("--vendor: {}", vendor_names()))?),
        };
        let config = LabConfig {
            machines,
            boot_delay: std::time::Duration::from_secs_f64(boot),
            disk_dir: dir.join("disks"),
            disk_bytes: crate::lab::DEFAULT_DISK_BYTES,
            bmc_delay: std::time::Duration::from_millis(bmc_delay),
            vendor,
        };
        let lab = Lab::serve(&config, specs).await?;
        let listed: Vec<serde_json::Value> = lab
            .machines
            .iter()
            .map(|m| {
                serde_json::json!({ "name": m.name, "address": m.address(), "username": m.username,
                                    "password": m.password, "rack": crate::lab::profiles::rack(
                                        m.name.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap_or(1)) })
            })
            .collect();
        let text = serde_json::to_string_pretty(&listed).expect("JSON");
        let tmp = dir.join("machines.json.tmp");
        std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, &state)).map_err(|e| e.to_string())?;
        println!("{text}");
        eprintln!("rackstate lab: {} machine(s) running; their BMCs are in {}", lab.machines.len(), state.display());
        let _ = tokio::signal::ctrl_c().await;
        drop(lab);
        Ok::<(), String>(())
    };
    match run.await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rackstate lab: {e}");
            2
        }
    }
}
