//! The command line: `rackstate [serve]`, `rackstate user add|set-password|list`,
//! `rackstate agent`, `rackstate lab`, parsed by clap (so `--help` on every command is
//! complete and a wrong value names its flag and what it takes). Passwords are read
//! from standard input (one line), never from arguments, so they stay out of shell
//! history and process lists.

use crate::settings::Settings;
use app::backend::services::Actor;
use app::backend::{Backend, Db};
use app::domain::Role;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Bare-metal server lifecycle manager: brings physical servers in through their BMC,
/// learns their hardware, types them, hands them out, takes them back, cleans them and
/// retires them.
#[derive(Debug, Parser)]
#[command(
    name = "rackstate",
    version,
    after_help = "Serving is configured by RACKSTATE_* environment variables (see the README's table)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app, the API and the workers (the default without a command).
    Serve,
    /// Manage accounts in the configured database (passwords from standard input).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The live-image agent: report this machine's hardware to the job named on the
    /// kernel command line (rackstate.callback/job/token) and run its steps.
    Agent(AgentArgs),
    /// Simulated servers with Redfish BMCs on loopback, as a process of their own;
    /// writes their BMC addresses and logins to DIR/machines.json (and stdout). A
    /// restart with the same DIR keeps them.
    Lab(LabArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is the first line of standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = role, help = role_help())]
        role: Role,
    },
    /// Set a user's password (first line of standard input); their sessions end.
    SetPassword {
        #[arg(long)]
        username: String,
    },
    /// List users, their roles and whether they are disabled.
    List,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Only print this machine's inventory as JSON.
    #[arg(long)]
    pub print: bool,
    /// Where to read the kernel command line from.
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
}

#[derive(Debug, Args)]
pub struct LabArgs {
    /// How many machines (1 to 10000; each listens on a port of its own).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub machines: u16,
    /// Where the machines' state and disks are kept.
    #[arg(long, default_value = "./lab")]
    pub dir: PathBuf,
    /// How long a machine takes to boot, in seconds (0 to 3600).
    #[arg(long, default_value_t = 3.0, value_parser = boot_seconds)]
    pub boot_seconds: f64,
    /// A delay added to every BMC answer, in milliseconds (0 to 60000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub bmc_delay_ms: u64,
    /// Each simulated disk's file, in KiB (4 to 1048576): what cleaning writes and
    /// reads back (a benchmark of thousands of machines may want them small).
    #[arg(long, default_value_t = crate::lab::DEFAULT_DISK_BYTES / 1024, value_parser = clap::value_parser!(u64).range(4..=1_048_576))]
    pub disk_kib: u64,
    /// The BMCs' Redfish dialect: mixed (the default: each machine its own) or one vendor.
    #[arg(long, value_parser = vendor, help = format!("The BMCs' Redfish dialect: {}", vendor_names()))]
    pub vendor: Option<VendorChoice>,
}

/// `--vendor`: every machine one vendor's dialect, or a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VendorChoice(pub Option<crate::lab::Vendor>);

fn role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(role_help)
}

fn role_help() -> String {
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    format!("one of {}", names.join(", "))
}

fn boot_seconds(s: &str) -> Result<f64, String> {
    s.parse().ok().filter(|s: &f64| (0.0..=3600.0).contains(s)).ok_or_else(|| "0 to 3600 seconds".to_string())
}

fn vendor(s: &str) -> Result<VendorChoice, String> {
    match s {
        "mixed" => Ok(VendorChoice(None)),
        v => crate::lab::Vendor::parse(v).map(|v| VendorChoice(Some(v))).ok_or_else(vendor_names),
    }
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `rackstate user ...`; returns the process exit code.
pub async fn user(settings: &Settings, command: &UserCommand) -> u8 {
    match user_inner(settings, command).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rackstate: {e}");
            2
        }
    }
}

async fn user_inner(settings: &Settings, command: &UserCommand) -> Result<(), String> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| format!("data directory: {e}"))?;
    let db = Db::connect(&settings.database_url, 2).await.map_err(|e| app::backend::error_chain(&e))?;
    db.migrate().await.map_err(|e| app::backend::error_chain(&e))?;
    let secrets =
        app::backend::secrets::SecretBox::load(settings.secret_key.as_ref().map(|s| s.0.as_str()), &settings.data_dir)
            .map_err(|e| e.to_string())?;
    let backend = Backend::new(db, secrets);
    let actor = Actor::system("command line");
    match command {
        UserCommand::Add { username, role } => {
            let password = read_password()?;
            let u = backend.create_user(&actor, username, &password, *role).await.map_err(|e| e.user_message())?;
            println!("created {} ({})", u.username, u.role);
        }
        UserCommand::SetPassword { username } => {
            let password = read_password()?;
            backend.set_password(&actor, username, &password, None).await.map_err(|e| e.user_message())?;
            println!("password set for {username}; their sessions ended");
        }
        UserCommand::List => {
            for u in backend.list_users().await.map_err(|e| e.user_message())? {
                println!(
                    "{:<32} {:<9} {}",
                    u.username,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
    }
    backend.db.close().await;
    Ok(())
}

/// `rackstate agent`: runs without Rackstate's settings (it runs in the live image).
pub async fn agent(args: &AgentArgs) -> u8 {
    use crate::agent::{
        self, BootConfig, Patience,
        hardware::{Hardware, LinuxHardware},
    };
    let hw = LinuxHardware::local();
    if args.print {
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
    let cmdline = args.cmdline.display();
    let text = match std::fs::read_to_string(&args.cmdline) {
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
pub async fn lab(args: &LabArgs) -> u8 {
    use crate::lab::{Lab, LabConfig, MachineSpec};
    let run = async {
        let machines = usize::from(args.machines);
        let dir = &args.dir;
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
        let config = LabConfig {
            machines,
            boot_delay: std::time::Duration::from_secs_f64(args.boot_seconds),
            disk_dir: dir.join("disks"),
            disk_bytes: args.disk_kib * 1024,
            bmc_delay: std::time::Duration::from_millis(args.bmc_delay_ms),
            vendor: args.vendor.and_then(|v| v.0),
        };
        let lab = Lab::serve(&config, specs).await?;
        let listed: Vec<serde_json::Value> = lab
            .machines
            .iter()
            .map(|m| {
                serde_json::json!({ "name": m.name, "address": m.address(), "username": m.username,
                                    "password": m.password(), "rack": crate::lab::profiles::rack(
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("rackstate").chain(args.iter().copied())).map_err(|e| e.to_string())
    }

    /// The command line is well formed (no clashing flags or names).
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `rackstate --help` names every command; each command's help names its flags.
    #[test]
    fn help_lists_every_command_and_flag() {
        let help = Cli::command().render_long_help().to_string();
        for command in ["serve", "user", "agent", "lab", "RACKSTATE_"] {
            assert!(help.contains(command), "{command} missing from:\n{help}");
        }
        let mut cli = Cli::command();
        let lab = cli.find_subcommand_mut("lab").unwrap().render_long_help().to_string();
        for flag in ["--machines", "--dir", "--boot-seconds", "--bmc-delay-ms", "--disk-kib", "--vendor", "supermicro"]
        {
            assert!(lab.contains(flag), "{flag} missing from:\n{lab}");
        }
    }

    /// An admin mistypes a role or a number: the answer names the flag and what it
    /// takes; nothing runs.
    #[test]
    fn wrong_values_name_the_flag_and_what_it_takes() {
        let e = parse(&["user", "add", "--username", "a", "--role", "boss"]).unwrap_err();
        assert!(e.contains("--role") && e.contains("admin, operator, viewer, tenant"), "{e}");
        let e = parse(&["lab", "--machines", "0"]).unwrap_err();
        assert!(e.contains("--machines") && e.contains("1..=10000"), "{e}");
        let e = parse(&["lab", "--machines", "2", "--boot-seconds", "4000"]).unwrap_err();
        assert!(e.contains("0 to 3600"), "{e}");
        let e = parse(&["lab", "--machines", "2", "--vendor", "acme"]).unwrap_err();
        assert!(e.contains("--vendor") && e.contains("mixed"), "{e}");
        let e = parse(&["user", "add", "--role", "admin"]).unwrap_err();
        assert!(e.contains("--username"), "{e}");
        assert!(parse(&["frobnicate"]).is_err());
    }

    /// No command serves; the flags people use parse to what they say.
    #[test]
    fn commands_parse() {
        assert!(parse(&[]).unwrap().command.is_none());
        let Some(Command::Lab(lab)) = parse(&["lab", "--machines", "3", "--vendor", "ilo"]).unwrap().command else {
            panic!("not lab")
        };
        assert_eq!((lab.machines, lab.boot_seconds, lab.dir.to_str()), (3, 3.0, Some("./lab")));
        assert_eq!(lab.vendor, Some(VendorChoice(crate::lab::Vendor::parse("ilo"))));
        let Some(Command::User { command: UserCommand::Add { role, .. } }) =
            parse(&["user", "add", "--username", "alice", "--role", "operator"]).unwrap().command
        else {
            panic!("not user add")
        };
        assert_eq!(role, Role::Operator);
        let Some(Command::Agent(agent)) = parse(&["agent", "--print"]).unwrap().command else { panic!("not agent") };
        assert!(agent.print);
    }
}
