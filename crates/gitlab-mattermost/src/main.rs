use std::process::ExitCode;

#[cfg(feature = "full")]
use clap::CommandFactory;
use clap::Parser;
#[cfg(feature = "full")]
use gitlab_mattermost::cli::IntegrationsCommand;
use gitlab_mattermost::cli::{Cli, Command, ConfigArgs};
use gitlab_mattermost::diag::Diagnostics;
#[cfg(feature = "full")]
use gitlab_mattermost::ops;
#[cfg(feature = "full")]
use gitlab_mattermost::ops::args::GitlabCommand;
use gitlab_mattermost::render::{self, Target};
use gitlab_mattermost::validate::{Plan, SecretUse};
use gitlab_mattermost::{exec, output};

#[cfg(feature = "full")]
mod man_pages;

/// Whether stderr is coloured, decided once from `--color` (and, with auto, the terminal and
/// NO_COLOR/TERM).
static STDERR_COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn stderr_color() -> bool {
    *STDERR_COLOR.get_or_init(gitlab_mattermost::diag::color_on_stderr)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    STDERR_COLOR.get_or_init(|| cli.color.on_stderr());
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(Failure::Invalid(d)) => {
            eprintln!("{}", d.render(stderr_color()));
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// The input is wrong: exit 2.
    Invalid(Diagnostics),
    /// Something else went wrong: exit 1.
    Other(anyhow::Error),
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Failure::Invalid(d)
    }
}

impl From<anyhow::Error> for Failure {
    /// A refusal carried as an error (an output path that must not be written) is invalid
    /// input too.
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Diagnostics>() {
            Ok(d) => Failure::Invalid(d),
            Err(e) => Failure::Other(e),
        }
    }
}

/// Libraries whose trace output dumps the raw bytes they send and receive: requests with
/// their PRIVATE-TOKEN header, answers with a new OAuth secret, TLS records. The default
/// filter keeps them at debug (where they log redacted headers) even at -vvv; only an
/// explicit RUST_LOG can ask for more.
const BYTE_DUMPERS: &[&str] = &["ureq", "ureq_proto", "rustls"];

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // RUST_LOG as `target=level` directives (what the logs here are filtered by; span and
    // field filters would need a regular-expression engine in every build of the compiler).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .or_else(|| default_filter(verbose).parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(stderr_color())
        .with_target(false)
        .without_time();
    tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .init();
}

/// The log filter for `-v` counts when RUST_LOG is not set.
fn default_filter(verbose: u8) -> String {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut filter = level.to_string();
    if verbose >= 3 {
        for target in BYTE_DUMPERS {
            filter.push_str(&format!(",{target}=debug"));
        }
    }
    filter
}

fn load(config: &ConfigArgs) -> Result<Plan, Failure> {
    let plan = gitlab_mattermost::load(&config.files, &config.sets)
        .map_err(|d| name_set_origins(d, &config.sets))?;
    let color = stderr_color();
    for w in &plan.warnings {
        // One write per warning, so that lines from writers sharing stderr do not interleave.
        let mut text = w.render(color);
        text.push_str(if w.shows_excerpt() { "\n\n" } else { "\n" });
        eprint!("{text}");
    }
    tracing::info!(
        files = config.files.len(),
        variables = plan.env.len(),
        secrets = plan.credentials.len(),
        "config is valid"
    );
    Ok(plan)
}

/// A `--set` that cannot be read (no `=`, an open quote, an empty key part) is reported
/// without an origin: name it `--set #N`, N counting the `--set` options from 1, as a problem
/// with a value one sets is named.
fn name_set_origins(mut d: Diagnostics, sets: &[String]) -> Diagnostics {
    for diag in d.0.iter_mut().filter(|diag| diag.origin.is_none()) {
        let n = sets.iter().position(|set| match set.split_once('=') {
            None => diag.message == format!("`--set {set}` has no `=`"),
            Some((key, _)) => {
                diag.key == key && (!key.is_empty() || diag.message.contains("--set"))
            }
        });
        if let Some(i) = n {
            diag.origin = Some(gitlab_mattermost::diag::Origin {
                source: format!("--set #{}", i + 1),
                pos: None,
            });
        }
    }
    d
}

fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Render {
            config,
            out,
            install_dir,
            check,
        } => {
            let plan = load(&config)?;
            let target = match install_dir {
                Some(d) => Target::new(d, "--install-dir"),
                None => Target::new(absolute(&out)?, "--out"),
            }
            .map_err(Diagnostics::from)?;
            let files = render::render_all(&plan, &target);
            if check {
                return Ok(match output::diff_against(&out, &files) {
                    None => {
                        tracing::info!("{} is up to date", out.display());
                        ExitCode::SUCCESS
                    }
                    Some(diff) => {
                        print!("{diff}");
                        eprintln!("{} is out of date", out.display());
                        ExitCode::from(1)
                    }
                });
            }
            let t = output::write_atomically(&out, &files, &inputs_of(&config, &plan))?;
            tracing::info!(
                files = files.len(),
                write_us = t.write.as_micros() as u64,
                fsync_us = t.sync.as_micros() as u64,
                stale_staging_removed = t.stale_removed,
                "rendered into {}",
                out.display()
            );
            // Success is reported as `check` reports it: one `ok:` line on stderr.
            // One write: the line stays whole when stderr is shared.
            let done = format!(
                "ok: rendered {} files into {} (to install and start them on this host: gitlab-mattermost apply)\n",
                files.len(),
                out.display()
            );
            eprint!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Apply(args) => {
            let plan = load(&args.config)?;
            match ops::apply::run(&plan, &args) {
                Ok(code) => Ok(code),
                Err(ops::apply::ApplyError::Refused(d)) => Err(Failure::Invalid(d)),
                Err(ops::apply::ApplyError::Other(e)) => Err(Failure::Other(e)),
            }
        }
        #[cfg(feature = "full")]
        Command::Rollback(args) => {
            let plan = load(&args.config)?;
            match ops::apply::rollback::run(&plan, &args) {
                Ok(code) => Ok(code),
                Err(ops::apply::ApplyError::Refused(d)) => Err(Failure::Invalid(d)),
                Err(ops::apply::ApplyError::Other(e)) => Err(Failure::Other(e)),
            }
        }
        Command::UpgradeGuard(args) => {
            let plan = load(&args.config)?;
            Ok(gitlab_mattermost_backup::guard::run(&plan, &args)?)
        }
        Command::Check {
            config,
            json: false,
        } => {
            load(&config)?;
            eprintln!("ok: {} file(s) valid", config.files.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, json: true } => Ok(check_json(&config)),
        Command::Env { config, json } => {
            let plan = load(&config)?;
            if json {
                println!("{}", env_json(&plan));
            } else {
                print!("{}", describe_env(&plan));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Exec {
            env_file,
            credentials,
            passwords_into,
            program,
        } => {
            let plan = exec::ExecPlan {
                env_file,
                credentials,
                passwords_into,
            };
            match exec::exec(&plan, &program)? {}
        }
        #[cfg(feature = "full")]
        Command::Import(args) => match gitlab_mattermost::import::run(&args) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(gitlab_mattermost::import::ImportError::Invalid(d)) => Err(Failure::Invalid(d)),
            Err(gitlab_mattermost::import::ImportError::Other(e)) => Err(Failure::Other(e)),
        },
        #[cfg(feature = "full")]
        Command::Explain(args) => {
            print!("{}", gitlab_mattermost::explain::explain(&args.key)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            print!("{}", gitlab_mattermost::schema::SCHEMA_FILE);
            Ok(ExitCode::SUCCESS)
        }
        Command::NixosOptions { names } => {
            let text = if names {
                gitlab_mattermost::nixos_options::render_names_nix()
            } else {
                gitlab_mattermost::nixos_options::render_options_nix()
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Reference => {
            print!("{}", gitlab_mattermost::reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Completions { shell } => {
            use std::io::Write as _;
            let script = completions(shell);
            std::io::stdout()
                .write_all(script.as_bytes())
                .map_err(anyhow::Error::from)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Gitlab {
            command: GitlabCommand::Register(args),
        } => {
            let plan = load(&args.config)?;
            ops::gitlab::check_config(&plan)?;
            ops::gitlab::register(&plan, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Integrations {
            command: IntegrationsCommand::Sync(args),
        } => {
            let plan = load(&args.config)?;
            Ok(ops::integrations::run(&plan, &args)?)
        }
        #[cfg(feature = "full")]
        Command::Status(args) => {
            let plan = load(&args.config)?;
            Ok(ops::status::run(&plan, &args)?)
        }
        #[cfg(feature = "full")]
        Command::Doctor(args) => {
            let plan = load(&args.config)?;
            Ok(ops::doctor::run(&plan, &args)?)
        }
        #[cfg(feature = "full")]
        Command::Mmctl(args) => {
            let plan = load(&args.config)?;
            match ops::mmctl::run(&plan, &args)? {}
        }
        #[cfg(feature = "full")]
        Command::Migrate { command } => match command {
            ops::migrate::MigrateCommand::Export(args) => {
                ops::migrate::export::run(&args)?;
                Ok(ExitCode::SUCCESS)
            }
            ops::migrate::MigrateCommand::Import(args) => {
                let plan = load(&args.config)?;
                Ok(ops::migrate::import::run(&plan, &args)?)
            }
        },
        #[cfg(feature = "full")]
        Command::Logs(args) => match ops::logs::exec_journalctl(&args, false)? {},
        #[cfg(feature = "full")]
        Command::Tail(args) => match ops::logs::exec_journalctl(&args, true)? {},
        #[cfg(feature = "full")]
        Command::Psql { config, args } => {
            let plan = load(&config)?;
            Ok(ops::backup::psql(&plan, &args)?)
        }
        #[cfg(feature = "full")]
        Command::Backup(args) => {
            let plan = load(&args.config)?;
            ops::backup::backup(&plan, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Restore(args) => {
            let plan = load(&args.config)?;
            ops::backup::restore(&plan, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Man { out: None } => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(anyhow::Error::from)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "full")]
        Command::Man { out: Some(dir) } => {
            man_pages::write_all(Cli::command(), &dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The completion script for `shell`. clap_complete's bash script names the states of a
/// hyphenated command one way where it sets them (`gitlab__mattermost__subcmd__render`) and
/// another in the case labels that complete them (`gitlab__subcmd__mattermost__subcmd__render`),
/// so nothing completed past the first word: the labels are given the name the states have.
#[cfg(feature = "full")]
fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gitlab-mattermost", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        clap_complete::Shell::Bash => {
            script.replace("gitlab__subcmd__mattermost__", "gitlab__mattermost__")
        }
        _ => script,
    }
}

/// What render reads: the config files and the secret files they name. None of them may be
/// inside the directory render replaces.
fn inputs_of(config: &ConfigArgs, plan: &Plan) -> Vec<output::Input> {
    let configs = config
        .files
        .iter()
        .map(|f| output::Input::new(f, "the config file"));
    let secrets = plan
        .credentials
        .iter()
        .map(|c| output::Input::new(&c.path, "the secret file"));
    configs.chain(secrets).collect()
}

/// The absolute path of `--out`, as text: the unit names it, so a path that is not UTF-8 is
/// refused rather than changed.
fn absolute(p: &std::path::Path) -> Result<String, Failure> {
    let abs = std::path::absolute(p).map_err(anyhow::Error::from)?;
    abs.into_os_string().into_string().map_err(|raw| {
        Failure::Invalid(Diagnostics::from(gitlab_mattermost::diag::Diagnostic::new(
            "--out",
            format!(
                "the path is not UTF-8 ({}), so the unit cannot name it",
                std::path::Path::new(&raw).display()
            ),
        )))
    })
}

/// `check --json`: the outcome as one JSON object on stdout, exit 0 or 2 as without it.
fn check_json(config: &ConfigArgs) -> ExitCode {
    let files: Vec<String> = config
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let (valid, warnings, errors) = match gitlab_mattermost::load(&config.files, &config.sets) {
        Ok(plan) => (
            true,
            plan.warnings.into_iter().map(|w| w.message).collect(),
            Vec::new(),
        ),
        Err(d) => (false, Vec::new(), name_set_origins(d, &config.sets).0),
    };
    let errors: Vec<serde_json::Value> = errors
        .iter()
        .map(|d| {
            serde_json::json!({
                "source": d.origin.as_ref().map(|o| o.source.clone()),
                "line": d.origin.as_ref().and_then(|o| o.pos).map(|p| p.line),
                "column": d.origin.as_ref().and_then(|o| o.pos).map(|p| p.column),
                "key": d.key,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    let report = serde_json::json!({
        "valid": valid,
        "files": files,
        "warnings": warnings,
        "errors": errors,
    });
    println!("{report:#}");
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `env --json`: the environment, and where each secret comes from (never its value).
fn env_json(plan: &Plan) -> String {
    let mut secrets = Vec::new();
    let mut passwords = Vec::new();
    for c in &plan.credentials {
        for u in &c.uses {
            match u {
                SecretUse::Variable(v) => {
                    secrets.push(serde_json::json!({"variable": v, "file": c.path}))
                }
                SecretUse::PasswordInto(v) => {
                    passwords.push(serde_json::json!({"variable": v, "file": c.path}))
                }
            }
        }
    }
    let report = serde_json::json!({
        "environment": plan.env,
        "secrets": secrets,
        "passwords": passwords,
    });
    format!("{report:#}")
}

/// The environment as Mattermost will see it, with secrets replaced by where they come from.
fn describe_env(plan: &Plan) -> String {
    let mut lines: Vec<String> = plan
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", gitlab_mattermost::syntax::env_file::quote(v)))
        .collect();
    for c in &plan.credentials {
        for u in &c.uses {
            match u {
                SecretUse::Variable(v) => lines.push(format!("{v}=<from {}>", c.path)),
                SecretUse::PasswordInto(v) => {
                    if let Some(line) = lines.iter_mut().find(|l| l.starts_with(&format!("{v}="))) {
                        line.push_str(&format!("  # password <from {}>", c.path));
                    }
                }
            }
        }
    }
    lines.sort();
    let mut s = lines.join("\n");
    s.push('\n');
    s
}
