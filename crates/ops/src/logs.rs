//! `logs` and `tail`: Mattermost's log, which is its unit's journal (Omnibus's
//! `gitlab-ctl tail mattermost`).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{anyhow, Result};
use clap::Args;

/// The unit every rendering installs.
pub const UNIT: &str = "mattermost.service";

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// How many of the newest entries to show first.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub lines: u32,
    /// journalctl's own arguments (after `--`), e.g. `--since today` or `-o json`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

/// Replace this process with journalctl on the unit (its pager, colours and Ctrl-C as the
/// admin knows them); `follow` keeps printing new entries.
pub fn exec_journalctl(args: &LogsArgs, follow: bool) -> Result<std::convert::Infallible> {
    let mut cmd = Command::new("journalctl");
    cmd.arg("--unit").arg(UNIT);
    cmd.arg("--lines").arg(args.lines.to_string());
    if follow {
        cmd.arg("--follow");
    }
    cmd.args(&args.args);
    let err = cmd.exec();
    Err(anyhow!(
        "cannot run journalctl ({err}): Mattermost logs to the journal of {UNIT}; install systemd's journalctl"
    ))
}
