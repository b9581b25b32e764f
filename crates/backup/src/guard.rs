//! `upgrade-guard`: the NixOS module's upgrade, run by the unit before Mattermost starts
//! (`ExecStartPre=+`), since `nixos-rebuild switch` installs a new package without `apply`.
//! When the release differs from the one recorded at the last start, the move is checked (no
//! older line) and everything is backed up into the upgrades directory before the new release
//! migrates the database; then the new release is recorded. A failure stops the start: the
//! data stays as the old release left it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::paths::Root;
use super::upgrade::{self, LastUpgrade};
use crate::config_args::ConfigArgs;
use crate::validate::Plan;

#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where the release of the last start and the upgrades' backups are kept.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/gitlab-mattermost")]
    pub state_dir: PathBuf,
}

pub fn run(plan: &Plan, args: &GuardArgs) -> Result<ExitCode> {
    let key = upgrade::release_key(plan, &Root::host());
    let state = args.state_dir.join("release");
    let previous = std::fs::read_to_string(&state)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    match previous {
        Some(previous) if previous != key => {
            println!(
                "the release changed: {} → {}",
                upgrade::describe(&previous),
                upgrade::describe(&key)
            );
            upgrade::preflight(&previous, &key, false, None)?;
            let upgrades = args.state_dir.join("upgrades");
            let (dir, took) = upgrade::back_up(plan, &upgrades, &previous, &key)?;
            let took = took.as_secs_f64();
            LastUpgrade {
                from: previous.clone(),
                to: key.clone(),
                backup: Some(dir.display().to_string()),
                backup_seconds: Some(took),
                downtime_seconds: None,
                kind: "upgrade".into(),
            }
            .save_to(&upgrades.join("last.json"))?;
            println!(
                "backed up into {} in {took:.1} s before the new release starts; to go back, restore it under the previous package \
                 (`gitlab-mattermost rollback` on a plain host; on NixOS switch back to the previous generation, then restore \
                 with `gitlab-mattermost restore --force` while Mattermost is stopped)",
                dir.display()
            );
        }
        Some(_) => return Ok(ExitCode::SUCCESS),
        None => println!("recording the release: {}", upgrade::describe(&key)),
    }
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create {}", args.state_dir.display()))?;
    crate::output::write_file_atomically(&state, format!("{key}\n").as_bytes(), 0o644)?;
    Ok(ExitCode::SUCCESS)
}
