//! The command line: every subcommand, with examples in its help.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Compile one typed config into everything a GitLab Mattermost server needs.
///
/// Reads TOML, JSON or Nix attribute-set files (layered, later wins), checks every value
/// against Mattermost's real settings and rules, and renders the Mattermost environment, a
/// hardened systemd unit, sysusers/tmpfiles entries and an nginx vhost. Secrets are only ever
/// file paths, read at service start.
#[derive(Debug, Parser)]
#[command(name = "gitlab-mattermost", version, max_term_width = 100)]
#[cfg_attr(
    feature = "full",
    command(after_help = "Examples:\n  \
    gitlab-mattermost check examples/full.toml\n  \
    gitlab-mattermost apply /etc/gitlab-mattermost.toml --dry-run\n  \
    gitlab-mattermost status\n  \
    gitlab-mattermost render examples/full.toml --out rendered\n  \
    gitlab-mattermost env base.toml site.json --set smtp.port=587\n\n\
    For units, packagers and developers (each has --help): exec, upgrade-guard, schema,\n\
    nixos-options, reference, completions, man.\n\n\
    Exit codes: 0 success, 1 failure (or out of date with --check), 2 invalid input.")
)]
// The lean build (the compiler a NixOS host builds) has no operations to show.
#[cfg_attr(
    not(feature = "full"),
    command(after_help = "Examples:\n  \
    gitlab-mattermost check examples/full.toml\n  \
    gitlab-mattermost render examples/full.toml --out rendered\n\n\
    For units and developers (each has --help): exec, upgrade-guard, schema, nixos-options,\n\
    reference. This is the compiler alone; the whole command adds the operations.\n\n\
    Exit codes: 0 success, 1 failure (or out of date with --check), 2 invalid input.")
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). The HTTP and TLS libraries (ureq,
    /// ureq_proto, rustls) stay at debug even with -vvv: their trace output is raw bytes,
    /// tokens and secrets included. RUST_LOG replaces this filter entirely (RUST_LOG=trace
    /// shows those bytes; keep such output private).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Colour in diagnostics and log lines: auto (on a terminal, unless NO_COLOR is set or
    /// TERM=dumb), always (e.g. through `less -R`), or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

pub use gitlab_mattermost_core::config_args::ConfigArgs;

/// When stderr is coloured (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether to colour this process's stderr. An explicit choice wins over NO_COLOR and
    /// TERM, as it does in cargo and ripgrep: it is the user's latest word.
    pub fn on_stderr(self) -> bool {
        match self {
            ColorWhen::Auto => gitlab_mattermost_core::diag::color_on_stderr(),
            ColorWhen::Always => true,
            ColorWhen::Never => false,
        }
    }
}

/// `integrations …` subcommands.
#[cfg(feature = "full")]
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Create or update the webhooks and slash commands in Mattermost and GitLab's project
    /// integrations; report (or, with --prune, remove) what is no longer declared.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost integrations sync /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-token --dry-run\n  \
        gitlab-mattermost integrations sync /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-token\n  \
        gitlab-mattermost integrations sync /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-token --adopt --dry-run\n  \
        gitlab-mattermost integrations sync /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-token --dry-run --json | jq -r '.changes[].action'\n\n\
        After a move off Omnibus, GitLab's projects already have Mattermost integrations, posting to\n\
        webhooks of the old address: a plain sync leaves such a project alone and fails; --adopt\n\
        takes them over (see it with --dry-run first) and points GitLab at this server.\n\n\
        Talks to Mattermost over its local-mode socket (settings.ServiceSettings.EnableLocalMode = true;\n\
        run it as root), then to GitLab with the token (scope api; Maintainer of the projects or an\n\
        administrator). Writes each webhook's URL to its url_file (mode 0600) and what it created to\n\
        <integrations.state_directory>/state.json. A second run changes nothing. Exit 1 when\n\
        anything failed; the rest is still applied and every change is listed.")]
    Sync(crate::ops::integrations::SyncArgs),
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and render all files into a directory, atomically.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost render examples/full.toml --out rendered\n  \
        gitlab-mattermost render site.toml --out /etc/gitlab-mattermost --check\n\n\
        Writes mattermost.env, systemd/mattermost.service, sysusers.d/, tmpfiles.d/, ids.json,\n\
        nginx/{http,locations,mattermost}.conf and manifest.json. A failed run leaves an\n\
        earlier DIR untouched.\n\n\
        DIR must not exist yet or be a previous rendering (its manifest.json lists every file,\n\
        unchanged); a symlink to one stays a symlink. /, ., .., files, devices, FIFOs, mount\n\
        points, the config, and directories holding anything render did not write are refused\n\
        (exit 2).")]
    Render {
        #[command(flatten)]
        config: ConfigArgs,
        /// Output directory, replaced as a whole: a new path or a previous rendering.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Where DIR will live on the target host, if not where it is written (units refer
        /// to files in it). Default: the absolute path of --out.
        #[arg(long, value_name = "PATH")]
        install_dir: Option<String>,
        /// Do not write: exit 1 and print a diff when DIR is out of date.
        #[arg(long)]
        check: bool,
    },
    #[cfg(feature = "full")]
    /// Render and install on this host: unit, account, directories, nginx site, database.
    ///
    /// Renders into /etc/gitlab-mattermost, installs the unit, sysusers.d, tmpfiles.d and the
    /// nginx site, creates the account, directories and a local database, reloads nginx, and
    /// restarts Mattermost only when something it reads changed.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost apply /etc/gitlab-mattermost.toml --dry-run\n  \
        gitlab-mattermost apply /etc/gitlab-mattermost.toml\n\n\
        The plain-host `nixos-rebuild switch` (Omnibus: `gitlab-ctl reconfigure`); run it as root\n\
        after every change to the config. It never overwrites a file it did not install (exit 2,\n\
        nothing changed); a failing step stops it and it says what state the host is in (exit 1).\n\
        A second run with the same config changes and restarts nothing.\n\
        See docs/getting-started.md (\"What apply does\") for each step. `reconfigure` is another\n\
        name for it, as Omnibus admins type it.")]
    #[command(visible_alias = "reconfigure")]
    Apply(crate::ops::apply::ApplyArgs),
    #[cfg(feature = "full")]
    /// Go back to the release that ran before an upgrade, with its data as it was then.
    #[command(after_help = "Example (the config as it was before the upgrade):\n  \
        gitlab-mattermost rollback /etc/gitlab-mattermost.toml \\\n    \
        --from /var/lib/gitlab-mattermost/upgrades/before-mattermost-11.7-20261207T060000Z\n\n\
        Verifies the backup `apply` took before the upgrade, stops Mattermost, drops the database\n\
        and restores it from the backup (a database a newer release migrated cannot be run by the\n\
        older one), puts files, config.json and plugins back (what is there is moved aside), then\n\
        applies the config: the previous release starts. What users did after the upgrade is lost:\n\
        that is what going back means.")]
    Rollback(crate::ops::apply::rollback::RollbackArgs),
    /// Before Mattermost starts (the NixOS unit's ExecStartPre): back up when the release changed.
    #[command(
        after_help = "Example (what the NixOS module runs, as root, before each start):\n  \
        gitlab-mattermost upgrade-guard /nix/store/…-gitlab-mattermost.json\n\n\
        Records the release Mattermost runs (mattermost.version, install_dir, the server binary) in\n\
        /var/lib/gitlab-mattermost/release. When it differs at the next start, a move to an older\n\
        line is refused and everything (database, files, config.json, plugins, secret files) is\n\
        backed up into /var/lib/gitlab-mattermost/upgrades before the new release migrates the\n\
        database. On a plain host `apply` does this itself."
    )]
    #[command(hide = true)]
    UpgradeGuard(gitlab_mattermost_backup::guard::GuardArgs),
    /// Validate only; report every problem at once.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost check base.toml site.toml --set smtp.enable=true\n  \
        gitlab-mattermost check --json /etc/gitlab-mattermost.toml | jq '.errors[].message'")]
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the result as JSON on stdout (valid, files, warnings, errors with their
        /// source, line, column, key, message and hint); the exit code is the same.
        #[arg(long)]
        json: bool,
    },
    // The help text shows the placeholder `env` prints, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    /// Print the environment Mattermost will see (secrets shown as <from FILE>).
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost env examples/full.toml | grep SMTP\n  \
        gitlab-mattermost env --json examples/full.toml | jq -r '.environment.MM_SERVICESETTINGS_SITEURL'")]
    Env {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print a JSON object instead: `environment` (name → value), `secrets` and
        /// `passwords` (the variable and the file it comes from, never the value).
        #[arg(long)]
        json: bool,
    },
    /// Run a program with the rendered environment and secrets (the unit's ExecStart).
    #[command(after_help = "Example (what the unit runs):\n  \
        gitlab-mattermost exec --env-file /etc/gitlab-mattermost/mattermost.env \\\n    \
        --credential smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD -- /opt/mattermost/bin/mattermost\n\n\
        Credentials are read from $CREDENTIALS_DIRECTORY/NAME (systemd's LoadCredential=).")]
    #[command(hide = true)]
    Exec {
        /// The rendered environment file.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// Set MM_VAR to the content of credential NAME.
        #[arg(long = "credential", value_name = "NAME=MM_VAR", value_parser = crate::exec::parse_mapping)]
        credentials: Vec<(String, String)>,
        /// Insert credential NAME as the password into every DSN in MM_VAR.
        #[arg(long = "password-into", value_name = "NAME=MM_VAR", value_parser = crate::exec::parse_mapping)]
        passwords_into: Vec<(String, String)>,
        /// The program and its arguments.
        #[arg(last = true, required = true, value_name = "PROGRAM")]
        program: Vec<OsString>,
    },
    #[cfg(feature = "full")]
    /// Import a GitLab Omnibus gitlab.rb (and config.json), or nixpkgs' services.mattermost,
    /// into a config `render` accepts.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost import /etc/gitlab/gitlab.rb > mattermost.toml\n  \
        gitlab-mattermost import /etc/gitlab/gitlab.rb \\\n    \
        --config-json /var/opt/gitlab/mattermost/config.json \\\n    \
        --secrets-dir /root/mattermost-secrets --format nix --out mattermost.nix\n  \
        gitlab-mattermost import /etc/gitlab/gitlab.rb \\\n    \
        --gitlab-version \"$(cat /opt/gitlab/embedded/service/gitlab-rails/VERSION)\" > mattermost.toml\n  \
        nix eval --json .#nixosConfigurations.chat.config.services.mattermost > mattermost.json\n  \
        sudo gitlab-mattermost import --nixpkgs-module mattermost.json --format nixos \\\n    \
        --secrets-dir /var/lib/gitlab-mattermost-secrets --out gitlab-mattermost.nix\n\n\
        The report (carried, derived, secrets, skipped, dropped, renamed/removed) goes to stderr;\n\
        with --json (and --out) it goes to stdout as JSON, with the files written.\n\
        See docs/migrating-from-omnibus.md and docs/migrating-from-nixpkgs.md for the whole migration.")]
    Import(crate::import::ImportArgs),
    #[cfg(feature = "full")]
    /// Explain a gitlab.rb key, an MM_* variable, a setting, a field name or a config key.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost explain \"mattermost['email_enable_batching']\"\n  \
        gitlab-mattermost explain MM_SERVICESETTINGS_SITEURL\n  \
        gitlab-mattermost explain EmailSettings.SMTPPort\n  \
        gitlab-mattermost explain MaximumLoginAttempts\n  \
        gitlab-mattermost explain smtp.port")]
    Explain(crate::explain::ExplainArgs),
    /// Print the JSON Schema of the config (for editor completion of TOML/JSON).
    #[command(after_help = "Example (taplo / Even Better TOML):\n  \
        gitlab-mattermost schema > gitlab-mattermost.schema.json")]
    #[command(hide = true)]
    Schema,
    /// Print the NixOS options of `services.gitlab-mattermost` generated from the schema.
    #[command(
        after_help = "Example (after changing the schema, regenerate both files):\n  \
        gitlab-mattermost nixos-options > nixos-modules/options.nix\n  \
        gitlab-mattermost nixos-options --names > nixos-modules/names.nix\n\n\
        The options are the schema's fields in camelCase (external_url is externalUrl); names.nix\n\
        maps them back to the compiler's names."
    )]
    #[command(hide = true)]
    NixosOptions {
        /// Print the map from the NixOS option names to the compiler's (names.nix) instead.
        #[arg(long)]
        names: bool,
    },
    /// Print the config reference (Markdown), generated from the schema.
    #[command(after_help = "Example:\n  gitlab-mattermost reference > docs/config-reference.md")]
    #[command(hide = true)]
    Reference,
    #[cfg(feature = "full")]
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  gitlab-mattermost completions bash > /etc/bash_completion.d/gitlab-mattermost"
    )]
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    #[cfg(feature = "full")]
    /// Print the man page (roff), or write every page with --out.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost man | man -l -\n  \
        gitlab-mattermost man --out /usr/local/share/man/gitlab-mattermost\n\n\
        --out writes gitlab-mattermost.1, one page per subcommand (gitlab-mattermost-render.1, …)\n\
        and gitlab-mattermost.toml.5, the config file's page. DIR must not exist yet.")]
    #[command(hide = true)]
    Man {
        /// Write every page into DIR (a new directory) instead of printing the main one.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    #[cfg(feature = "full")]
    /// Talk to GitLab: register the OAuth application.
    #[command(after_help = "Example:\n  \
        gitlab-mattermost gitlab register site.toml --token-file /root/gitlab-admin-token")]
    Gitlab {
        #[command(subcommand)]
        command: crate::ops::args::GitlabCommand,
    },
    #[cfg(feature = "full")]
    /// GitLab notifications and slash commands in Mattermost, as `integrations` declares.
    #[command(after_help = "Example:\n  \
        gitlab-mattermost integrations sync /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-token --dry-run")]
    Integrations {
        #[command(subcommand)]
        command: IntegrationsCommand,
    },
    #[cfg(feature = "full")]
    /// Show whether Mattermost runs and answers (Omnibus: gitlab-ctl status).
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost status\n  \
        gitlab-mattermost status --json | jq -r '.lines[] | select(.status == \"fail\") | .name'\n\n\
        One line each, marked OK or FAIL: the unit's state (systemctl show mattermost.service), the\n\
        Mattermost release that answers (else the one bin/mattermost reports), /api/v4/system/ping\n\
        answered directly on listen.address:listen.port and through nginx at external_url, and the\n\
        database (as doctor checks it; run as root, it connects as the service user).\n\n\
        Exit codes: 0 when everything is up, 1 when something is down, 2 invalid input.")]
    Status(crate::ops::args::StatusArgs),
    #[cfg(feature = "full")]
    /// Check SMTP, certificates, GitLab OAuth, the database, secrets, the host and the service.
    ///
    /// The service checks: its unit is active (service) and it answers /api/v4/system/ping
    /// directly and through nginx at external_url (ping).
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost doctor /etc/gitlab-mattermost.toml\n  \
        gitlab-mattermost doctor site.toml --send-to admin@example.com --json\n  \
        gitlab-mattermost doctor --only service --only ping\n\n\
        Exit codes: 0 when no check failed, 1 when one did, 2 invalid input.")]
    Doctor(crate::ops::args::DoctorArgs),
    #[cfg(feature = "full")]
    /// Run Mattermost's mmctl in local mode, as the service user, over the rendered socket.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost mmctl /etc/gitlab-mattermost.toml -- user list\n  \
        gitlab-mattermost mmctl /etc/gitlab-mattermost.toml -- config get ServiceSettings.SiteURL\n\n\
        Needs settings.ServiceSettings.EnableLocalMode = true and a running Mattermost. Run it as\n\
        root (it switches to the service user) or as the service user. The exit code is mmctl's.")]
    Mmctl(crate::ops::mmctl::MmctlArgs),
    #[cfg(feature = "full")]
    /// Move an Omnibus Mattermost's database, files, plugins and config.json here, verified.
    #[command(
        after_help = "The move, in short (docs/migrating-from-omnibus.md has every step):\n  \
        # old host, Mattermost still serving: copy the files (pre-sync)\n  \
        gitlab-mattermost migrate export --to /var/tmp/mattermost-move\n  \
        # old host, downtime begins: the delta and the database\n  \
        gitlab-ctl stop mattermost\n  \
        gitlab-mattermost migrate export --to /var/tmp/mattermost-move --final\n  \
        rsync -a --delete /var/tmp/mattermost-move/ root@new-host:/var/tmp/mattermost-move/\n  \
        # new host: restore, verify, start\n  \
        gitlab-mattermost migrate import /etc/gitlab-mattermost.toml \\\n    \
        --from /var/tmp/mattermost-move\n  \
        gitlab-mattermost apply /etc/gitlab-mattermost.toml\n\n\
        Nothing on the old host changes: starting it again is the rollback."
    )]
    Migrate {
        #[command(subcommand)]
        command: crate::ops::migrate::MigrateCommand,
    },
    #[cfg(feature = "full")]
    /// Show Mattermost's log: its unit's journal, the newest entries last.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost logs\n  \
        gitlab-mattermost logs -n 500 -- --since today --grep error\n\n\
        `gitlab-mattermost tail` follows it (Omnibus: gitlab-ctl tail mattermost).")]
    Logs(crate::ops::logs::LogsArgs),
    #[cfg(feature = "full")]
    /// Follow Mattermost's log as it is written (Omnibus: gitlab-ctl tail mattermost).
    #[command(after_help = "Example:\n  gitlab-mattermost tail -n 20")]
    Tail(crate::ops::logs::LogsArgs),
    #[cfg(feature = "full")]
    /// Run psql on Mattermost's database as the service connects (Omnibus: gitlab-psql).
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost psql /etc/gitlab-mattermost.toml\n  \
        gitlab-mattermost psql -- -c 'SELECT count(*) FROM posts'\n\n\
        A local database is reached over its socket as the service account (peer\n\
        authentication; run it as root), an external one with database.password_file. The exit\n\
        code is psql's.")]
    Psql {
        #[command(flatten)]
        config: ConfigArgs,
        /// psql's own arguments (after `--`), e.g. `-c 'SELECT 1'` or `-tA`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<std::ffi::OsString>,
    },
    #[cfg(feature = "full")]
    /// Back up the database (pg_dump, gzip), the files directory and config.json.
    #[command(
        after_help = "Example:\n  gitlab-mattermost backup site.toml --to /var/backups/mattermost\n\n\
        Writes DIR/mattermost-backup-<UTC date>/ with a manifest of SHA-256 checksums; the\n\
        directory only gets its final name once complete."
    )]
    Backup(crate::ops::args::BackupArgs),
    #[cfg(feature = "full")]
    /// Restore a backup made by `backup`, after verifying every checksum.
    #[command(after_help = "Example (Mattermost stopped):\n  \
        gitlab-mattermost restore site.toml \\\n    \
        --from /var/backups/mattermost/mattermost-backup-20250101T000000Z")]
    Restore(crate::ops::args::RestoreArgs),
}
