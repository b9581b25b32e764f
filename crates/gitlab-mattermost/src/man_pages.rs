//! `man --out DIR`: every manual page, into a new directory. The main page lists one page per
//! subcommand (`gitlab-mattermost-render(1)`, …), so all of them are written, and the config
//! file gets a page of its own in section 5 (files, environment, exit status).

use std::path::Path;

use anyhow::{Context, Result};
use gitlab_mattermost::diag::{Diagnostic, Diagnostics};

/// The config file's page: what the subcommand pages cannot say.
const CONFIG_PAGE: &str = r#".TH gitlab-mattermost.toml 5 "" "gitlab-mattermost" "File formats"
.SH NAME
gitlab-mattermost.toml \- the configuration of a GitLab Mattermost server for gitlab-mattermost
.SH SYNOPSIS
.B /etc/gitlab-mattermost.toml
(TOML), or any number of TOML, JSON and Nix attribute-set files given on the command line.
.SH DESCRIPTION
One typed configuration: the site's URL, the account and directories, the database, mail, file
storage, GitLab sign-in, nginx, integrations, and free-form Mattermost settings under
.BR settings .
Files are layered in the order given: tables merge key by key and later values win;
.B \-\-set KEY=VALUE
options apply after all files.
.BR gitlab-mattermost-check (1)
reports every problem at once with the file, line and column it came from;
.BR gitlab-mattermost-reference (1)
prints every key with its type, default and meaning, and
.BR gitlab-mattermost-schema (1)
the JSON Schema for editors.
.PP
Secrets are never written in the file: keys ending in
.B _file
(and
.BR setting_files ,
.BR environment_files )
name root-only files that the unit hands Mattermost at start through systemd's
.BR LoadCredential= .
Keep them on persistent storage, not under
.IR /run ,
which is emptied at boot, unless something provisions them at every boot.
.SH FILES
.TP
.I /etc/gitlab-mattermost.toml
The configuration
.B apply
and the other commands are usually given.
.TP
.I /etc/gitlab-mattermost/
What
.B apply
renders and installs: mattermost.env, the systemd unit, sysusers.d and tmpfiles.d entries,
ids.json, the nginx site and manifest.json (every file it wrote, with its checksum).
.TP
.I /var/lib/gitlab-mattermost/
State of the operations commands: the release of the last start and the backups taken before
an upgrade (upgrades/), migration reports (migrations/), the integrations' state.
.SH ENVIRONMENT
.TP
.B RUST_LOG
Log directives (target=level, comma-separated) replacing the filter the
.B \-v
options set.
.TP
.B GITLAB_MATTERMOST_TODAY
A date (YYYY-MM-DD) to judge support ends by instead of today's, for tests and reproducible runs.
.TP
.B CREDENTIALS_DIRECTORY
Where
.B exec
reads the secrets systemd loaded (set by systemd).
.SH EXIT STATUS
.TP
.B 0
Success.
.TP
.B 1
A failure outside the input (a service, a file system), or
.B render \-\-check
found the output out of date.
.TP
.B 2
Invalid input: every problem is listed, and nothing was written.
.SH SEE ALSO
.BR gitlab-mattermost (1),
.BR gitlab-mattermost-check (1),
.BR gitlab-mattermost-apply (1),
.BR gitlab-mattermost-reference (1)
"#;

/// Write every page into `dir`, which must not exist yet (nothing is written over).
pub fn write_all(command: clap::Command, dir: &Path) -> Result<()> {
    if dir.symlink_metadata().is_ok() {
        // Bad input (exit 2), as every refusal to write over something.
        let refusal = Diagnostic::new(
            "--out",
            format!(
                "{} exists: man --out writes into a new directory, so that no file is written over",
                dir.display()
            ),
        );
        return Err(Diagnostics::from(refusal).into());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // `--help` lists the commands for units, packagers and developers apart; the manual has
    // a page for each of them too.
    let hidden: Vec<String> = command
        .get_subcommands()
        .filter(|s| s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    let command = hidden
        .iter()
        .fold(command, |c, name| c.mut_subcommand(name, |s| s.hide(false)));
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write the pages into {}", dir.display()))?;
    let config_page = dir.join("gitlab-mattermost.toml.5");
    std::fs::write(&config_page, CONFIG_PAGE)
        .with_context(|| format!("cannot write {}", config_page.display()))?;
    Ok(())
}
