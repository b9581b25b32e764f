//! `rollback`: back to the release that ran before an upgrade, with its data as it was. The
//! backup `apply` took before the upgrade is verified, Mattermost is stopped, the database is
//! dropped and restored from the dump (an 11 database cannot be run by 10: it must be the old
//! one), files, config.json and plugins are put back (what is there now is moved aside, never
//! deleted), and `apply` then installs and starts the previous release from the config given.

use std::process::ExitCode;

use clap::Args;

use super::paths::Root;
use super::upgrade::LastUpgrade;
use super::{ApplyArgs, ApplyError};
use crate::backup;
use crate::config_args::ConfigArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::validate::Plan;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The config of the release to go back to (as it was before the upgrade).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The backup `apply` took before the upgrade (it prints it, and
    /// /var/lib/gitlab-mattermost/upgrades/last.json names it).
    #[arg(long, value_name = "DIR")]
    pub from: std::path::PathBuf,
    /// Seconds to wait for Mattermost to report ready.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub start_timeout: u64,
}

pub fn run(plan: &Plan, args: &RollbackArgs) -> Result<ExitCode, ApplyError> {
    if crate::users::effective_uid() != 0 {
        return Err(refusal(
            "rollback stops Mattermost and restores its database: run it as root".into(),
            None,
        ));
    }
    let manifest = backup::verify(&args.from)?;
    let Some(ran) = &manifest.mattermost else {
        return Err(refusal(
            format!("{} does not say which Mattermost it was taken of (a backup from an older gitlab-mattermost)", args.from.display()),
            Some("restore it with `gitlab-mattermost restore --force` and start the matching release yourself".into()),
        ));
    };
    let m = &plan.config.mattermost;
    if ran.version != m.version.as_str() || ran.install_dir != m.install_dir {
        return Err(refusal(
            format!(
                "the backup was taken of Mattermost {} in {}, but the config runs {} in {}",
                ran.version, ran.install_dir, m.version, m.install_dir
            ),
            Some("give the config as it was before the upgrade (mattermost.version and mattermost.install_dir)".into()),
        ));
    }
    let binary = plan.config.mattermost.server_binary();
    if !std::path::Path::new(&binary).is_file() {
        return Err(refusal(
            format!("{binary} is missing: the previous release must still be installed"),
            Some(format!("unpack it into {} again", m.install_dir)),
        ));
    }
    println!(
        "rolling back to Mattermost {} in {} from {}",
        ran.version,
        ran.install_dir,
        args.from.display()
    );
    stop_mattermost()?;
    backup::restore_replacing(plan, &args.from)?;
    let apply = ApplyArgs {
        config: ConfigArgs {
            files: args.config.files.clone(),
            sets: args.config.sets.clone(),
        },
        dry_run: false,
        json: false,
        start_timeout: args.start_timeout,
        no_doctor: true,
        root: None,
        after_rollback: true,
    };
    let code = super::run(plan, &apply)?;
    if let Some(last) = LastUpgrade::load(&Root::host()) {
        if last.kind == "rollback" {
            println!(
                "rolled back: Mattermost {} runs with the data of {}",
                ran.version, manifest.created
            );
        }
    }
    Ok(code)
}

fn stop_mattermost() -> Result<(), ApplyError> {
    let out = std::process::Command::new("systemctl")
        .args(["stop", super::execute::UNIT_NAME])
        .output()
        .map_err(anyhow::Error::from)?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "systemctl stop {} failed: {}",
            super::execute::UNIT_NAME,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

fn refusal(message: String, hint: Option<String>) -> ApplyError {
    let mut d = Diagnostic::new("--from", message);
    if let Some(h) = hint {
        d = d.with_hint(h);
    }
    ApplyError::Refused(Diagnostics::from(d))
}
