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
