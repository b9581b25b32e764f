//! The typed options of nixpkgs' `services.mattermost` (nixos/modules/services/web-apps/
//! mattermost.nix): what each one became. The Mattermost settings the module derived from
//! them (`siteUrl` is `ServiceSettings.SiteURL`, `host` and `port` are `ListenAddress`, the
//! directories under `dataDir`) are offered at the weakest layer; the rest is remembered in
//! [`Facts`] for the typed sections, or reported with what to do instead.
//!
//! Checked against the module's source, not guessed. Versions read (NixOS/nixpkgs history, as
//! held by public mirrors of it):
//! - numinit's rework before `pluginsBundle` (no `socket`, `telemetry`, `environment` or
//!   `database.driver`; uploads in `<dataDir>`, plugins in `<dataDir>/data/plugins/…`);
//! - 59251bd5915d91d6f4b3da0c455a7db44adee88c (January–April 2025: `pluginsBundle`,
//!   `telemetry`, `socket`, `database.driver`; still uploads in `<dataDir>`);
//! - 3b20077cd82fd1f099e92e2792d73e3176d4869d and the `postgresql.target` revision after it
//!   (nixos-25.05 and later, after nixpkgs PR 400221 of 2025-04-20: uploads in `<dataDir>/data`,
//!   plugins unpacked in `<dataDir>/data/.plugins/{server,client}`);
//! - 4aa6836a648ca76c68866decf0c8965e36ec2a3b (master: `database.driver` removed, PostgreSQL
//!   only; evaluating a removed option throws, see docs/migrating-from-nixpkgs.md);
//! - 0228f5ced99208eb883a9285ad9391cf1a1fb1e5, the module before the rework (nixos-24.11:
//!   `listenAddress`, `database.name` only), for the old names;
//! - nixos/modules/misc/ids.nix at 001d025fd4d70322f01b25021f074db9c359ae0a: uid and gid 254.
//!
//! `nix eval --json` prints every declared option, so the renamed ones (`statePath`,
//! `listenAddress`, `extraConfig`, `localDatabase*`) appear too, holding the new option's value.

use serde_json::Value;

use super::layers::{Candidate, Layer};
use super::{Module, Run};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::{Origin, Section};
use crate::ImportError;

/// The id nixpkgs gives the user and the group `mattermost` (nixos/modules/misc/ids.nix).
pub const NIXPKGS_ID: u32 = 254;

/// What nixpkgs names the account, and the data directory, when nothing says otherwise.
const DEFAULT_NAME: &str = "mattermost";
const DEFAULT_DATA_DIR: &str = "/var/lib/mattermost";

/// Options nixpkgs renamed and still accepts under their old name: `nix eval` prints them
/// too, with the new option's value.
const ALIASES: &[(&str, &str)] = &[
    ("statePath", "dataDir"),
    ("listenAddress", "host"),
    ("extraConfig", "settings"),
    ("localDatabaseCreate", "database.create"),
    ("localDatabaseName", "database.name"),
    ("localDatabaseUser", "database.user"),
    ("localDatabasePassword", "database.password"),
];

/// The new name of a renamed option.
pub fn alias_of(path: &str) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(old, _)| *old == path)
        .map(|(_, new)| *new)
}

/// The typed options the later steps need.
#[derive(Debug, Default)]
pub struct Facts {
    pub data_dir: String,
    pub config_dir: String,
    pub user: String,
    pub group: String,
    /// Mattermost's version, from the package's store path.
    pub version: Option<String>,
    pub database: Database,
    /// `environmentFile`, when set.
    pub env_file: Option<EnvFile>,
}

/// `services.mattermost.database`.
#[derive(Debug, Default)]
pub struct Database {
    pub create: bool,
    pub peer_auth: bool,
    pub socket_path: String,
    pub from_environment: bool,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Secret.
    pub password: Option<String>,
    pub extra_options: serde_json::Map<String, Value>,
}

/// `services.mattermost.environmentFile`.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub path: String,
    /// Why it could not be read, when it could not.
    pub unreadable: Option<String>,
}

/// Read every typed option.
pub fn read(run: &mut Run) -> Result<(), ImportError> {
    enable(run);
    package(run);
    site(run)?;
    listen(run);
    account(run);
    directories(run);
    socket(run);
    telemetry(run);
    config_mode(run);
    plugins(run);
    plugins_bundle(run);
    matterircd(run);
    database(run)?;
    Ok(())
}

/// Offer a setting the module derived from `option`.
fn offer(run: &mut Run, setting: &str, value: Value, option: &str, implicit: bool) {
    let candidate = Candidate {
        via: None,
        value,
        origin: Module::origin(option),
        layer: Layer::Option,
        implicit,
        in_store: true,
    };
    run.layers
        .offer_path(setting, candidate, &mut run.ctx.report);
}

/// A string option, or nixpkgs' default (said in the report) when the JSON lacks it.
fn string_or(run: &mut Run, option: &str, default: &str) -> String {
    match run.module.string(option, &mut run.ctx.report) {
        Some(s) => s,
        None => {
            run.report(
                Section::Derived,
                option,
                format!("not in the JSON: nixpkgs' default {default:?} is assumed"),
            );
            default.to_string()
        }
    }
}

fn bool_or(run: &mut Run, option: &str, default: bool) -> bool {
    match run.module.bool(option, &mut run.ctx.report) {
        Some(b) => b,
        None => {
            run.report(
                Section::Derived,
                option,
                format!("not in the JSON: nixpkgs' default {default} is assumed"),
            );
            default
        }
    }
}

fn invalid(option: &str, message: String, hint: &str) -> ImportError {
    ImportError::Invalid(Diagnostics::from(
        Diagnostic::new(format!("{}.{option}", super::PREFIX), message).with_hint(hint),
    ))
}

fn enable(run: &mut Run) {
    let text = match run.module.bool("enable", &mut run.ctx.report) {
        Some(true) => "the new module is enabled instead (services.gitlab-mattermost.enable)",
        Some(false) => {
            "false: the old module was off; imported anyway, and the new module is enabled"
        }
        None => "not in the JSON; the new module is enabled",
    };
    run.report(Section::Carried, "enable", text);
}

/// The package's store path names the version that migrated the database.
fn package(run: &mut Run) {
    let Some(path) = run.module.string("package", &mut run.ctx.report) else {
        run.report(Section::Derived, "package", "not in the JSON: keep the Mattermost version the host runs (the new module's package defaults to pkgs.mattermost)");
        return;
    };
    let name = path
        .strip_prefix("/nix/store/")
        .and_then(|p| p.split_once('-'))
        .map_or(path.as_str(), |(_, name)| name);
    let version = name.strip_prefix("mattermost-").map(str::to_string);
    let which = version
        .as_ref()
        .map_or_else(|| format!("{name:?}"), |v| format!("Mattermost {v}"));
    run.report(Section::Derived, "package", format!("ran {which} ({path}). The new module's package defaults to pkgs.mattermost: keep the same version (set services.gitlab-mattermost.package to what services.mattermost.package was, e.g. pkgs.mattermostLatest); Mattermost cannot go back to an older version once one has migrated the database"));
    run.facts.version = version;
}

fn site(run: &mut Run) -> Result<(), ImportError> {
    let Some(url) = run.module.string("siteUrl", &mut run.ctx.report) else {
        return Err(invalid(
            "siteUrl",
            "no siteUrl: Mattermost's URL is required".into(),
            "the JSON must be the whole of config.services.mattermost, which always has siteUrl",
        ));
    };
    offer(
        run,
        "ServiceSettings.SiteURL",
        Value::String(url),
        "siteUrl",
        false,
    );
    let name = string_or(run, "siteName", "Mattermost");
    offer(
        run,
        "TeamSettings.SiteName",
        Value::String(name),
        "siteName",
        false,
    );
    Ok(())
}

/// `host` and `port` are `ServiceSettings.ListenAddress` (`[…]` around an IPv6 address).
fn listen(run: &mut Run) {
    // Before the rework, the address was `listenAddress`; since, that name is an alias of
    // `host` (and read as such by `report_unknown`).
    let host = if !run.module.has("host") && run.module.has("listenAddress") {
        let old = string_or(run, "listenAddress", "127.0.0.1");
        run.report(
            Section::Carried,
            "listenAddress",
            format!("{old:?}: the address, as host is now (the module before the rework)"),
        );
        old
    } else {
        string_or(run, "host", "127.0.0.1")
    };
    let port = match run.module.take("port") {
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            run.report(
                Section::Dropped,
                "port",
                format!("expected a port number, found {other}; 8065 is assumed"),
            );
            "8065".into()
        }
        None => "8065".into(),
    };
    let address = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    offer(
        run,
        "ServiceSettings.ListenAddress",
        Value::String(address),
        "host",
        false,
    );
    run.report(
        Section::Carried,
        "port",
        "with host, ServiceSettings.ListenAddress (see listen)",
    );
}

/// The account keeps its name and, where nixpkgs fixed it, its id: no file changes owner.
fn account(run: &mut Run) {
    let user = string_or(run, "user", DEFAULT_NAME);
    let group = string_or(run, "group", DEFAULT_NAME);
    for (field, name, option) in [("user", &user, "user"), ("group", &group, "group")] {
        run.ctx
            .set_out(&["account", field], Value::String(name.clone()));
        run.report(
            Section::Carried,
            option,
            format!("account.{field} = {name:?}"),
        );
        let id_field = if field == "user" { "uid" } else { "gid" };
        if name == DEFAULT_NAME {
            run.ctx
                .set_out(&["account", id_field], Value::from(NIXPKGS_ID));
            run.report(Section::Derived, option, format!("account.{id_field} = {NIXPKGS_ID}: nixpkgs gives the {field} mattermost this fixed id (ids.nix); keeping it keeps the owner of every file"));
        } else {
            run.report(Section::Derived, option, format!("account.{id_field} stays unset: nixpkgs let NixOS choose the id of {name:?}, and NixOS keeps it for the same name (/var/lib/nixos/{id_field}-map), so files keep their owner; to pin it, set account.{id_field} to what `id -{} {name}` prints", if field == "user" { "u" } else { "g" }));
        }
    }
    run.facts.user = user;
    run.facts.group = group;
}

/// The directories stay where they are. nixpkgs keeps uploads in `<dataDir>/data` and
/// plugins below it; its `config.json` (when this host can read it) says where exactly.
fn directories(run: &mut Run) {
    let data = string_or(run, "dataDir", DEFAULT_DATA_DIR);
    let data = data.trim_end_matches('/').to_string();
    run.ctx
        .set_out(&["directories", "data"], Value::String(data.clone()));
    run.report(
        Section::Carried,
        "dataDir",
        format!("directories.data = {data:?}, the service's working directory, in place"),
    );
    let logs = match run.module.string("logDir", &mut run.ctx.report) {
        Some(l) => l,
        None => {
            let guess = "/var/log/mattermost".to_string();
            run.report(Section::Derived, "logDir", format!("not in the JSON: {guess:?} is assumed (nixpkgs' default from system.stateVersion 25.05; before it, {data}/logs)"));
            guess
        }
    };
    offer(
        run,
        "LogSettings.FileLocation",
        Value::String(logs),
        "logDir",
        false,
    );
    let config_dir = match run.module.string("configDir", &mut run.ctx.report) {
        Some(c) => c,
        None => {
            let guess = format!("{data}/config");
            run.report(Section::Derived, "configDir", format!("not in the JSON: {guess:?} is assumed (nixpkgs' default before system.stateVersion 25.05; from it, /etc/mattermost)"));
            guess
        }
    };
    let config_dir = config_dir.trim_end_matches('/').to_string();
    run.ctx.set_out(
        &["directories", "config"],
        Value::String(config_dir.clone()),
    );
    run.report(Section::Carried, "configDir", format!("directories.config = {config_dir:?}: Mattermost goes on reading (and, with the System Console, writing) {config_dir}/config.json"));
    let layout = Layout::of(&run.module, &data);
    let observed = observe_config_json(run, &config_dir, &layout);
    let derived = [
        ("FileSettings.Directory", layout.uploads.clone()),
        (
            "PluginSettings.Directory",
            format!("{}/server", layout.plugins),
        ),
        (
            "PluginSettings.ClientDirectory",
            format!("{}/client", layout.plugins),
        ),
    ];
    for (setting, default) in derived {
        match observed.as_ref().and_then(|c| lookup(c, setting)) {
            Some(Value::String(seen)) => {
                let candidate = Candidate {
                    via: None,
                    value: Value::String(seen.clone()),
                    origin: Origin::Nixos(format!("{config_dir}/config.json {setting}")),
                    layer: Layer::Option,
                    implicit: true,
                    in_store: false,
                };
                run.layers
                    .offer_path(setting, candidate, &mut run.ctx.report);
            }
            _ => offer(run, setting, Value::String(default), "dataDir", true),
        }
    }
    run.facts.data_dir = data;
    run.facts.config_dir = config_dir;
}

/// Where the old module put uploads and unpacked plugins. nixpkgs moved them twice, and the
/// options the JSON has tell the versions apart only partly (see the notes at the top).
struct Layout {
    uploads: String,
    plugins: String,
    /// What the report says of it.
    why: &'static str,
}

impl Layout {
    fn of(module: &Module, data: &str) -> Layout {
        if module.has("pluginsBundle") {
            Layout {
                uploads: format!("{data}/data"),
                plugins: format!("{data}/data/.plugins"),
                why: "nixpkgs' layout since 25.05 (uploads in <dataDir>/data, plugins unpacked in <dataDir>/data/.plugins/server and client); a host that ran nixos-unstable between January and April 2025 had its uploads in <dataDir> itself and plugins in <dataDir>/data/plugins",
            }
        } else {
            Layout {
                uploads: data.to_string(),
                plugins: format!("{data}/data/plugins"),
                why: "the layout of the module's rework before pluginsBundle existed (uploads in <dataDir> itself, plugins unpacked in <dataDir>/data/plugins/server and client)",
            }
        }
    }
}

fn lookup<'a>(config: &'a Value, setting: &str) -> Option<&'a Value> {
    let (category, field) = setting.split_once('.')?;
    config.get(category)?.get(field)
}

/// The config.json the old module wrote, when this host has it: the directories it names
/// are the ones in use. Otherwise the report says what was assumed.
fn observe_config_json(run: &mut Run, config_dir: &str, layout: &Layout) -> Option<Value> {
    let path = format!("{config_dir}/config.json");
    let origin = Origin::Nixos(path.clone());
    if let Ok(target) = std::fs::read_link(&path) {
        if target.starts_with("/nix/store") {
            run.ctx.report.add(Section::Derived, Some(origin.clone()), format!("a link into the Nix store ({}), which Mattermost cannot write: replace it by a copy before the switch (cp --remove-destination \"$(readlink -f {path})\" {path}, owned by the account)", target.display()));
        }
    }
    let read = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
    match read {
        Ok(config) => {
            run.ctx.report.add(Section::Derived, Some(origin), "read for the directories the old module used (FileSettings.Directory, PluginSettings.Directory and ClientDirectory); it stays where it is");
            Some(config)
        }
        Err(e) => {
            run.ctx.report.add(Section::Derived, Some(origin), format!("not read here ({e}): the directories nixpkgs derived from dataDir are assumed, {}; run the import as root on the host to have them read from config.json, or check its FileSettings.Directory and PluginSettings.Directory yourself", layout.why));
            None
        }
    }
}

/// mmctl's local mode: the same switch and socket.
fn socket(run: &mut Run) {
    if let Some(enable) = run.module.bool("socket.enable", &mut run.ctx.report) {
        offer(
            run,
            "ServiceSettings.EnableLocalMode",
            Value::Bool(enable),
            "socket.enable",
            false,
        );
    }
    if let Some(path) = run.module.string("socket.path", &mut run.ctx.report) {
        offer(
            run,
            "ServiceSettings.LocalModeSocketLocation",
            Value::String(path),
            "socket.path",
            false,
        );
    }
    let text = match run.module.bool("socket.export", &mut run.ctx.report) {
        Some(true) => "true: no equivalent; it exported MMCTL_LOCAL and MMCTL_LOCAL_SOCKET_PATH to every shell. The new module installs mattermost-admin instead (mmctl in local mode as the service user): use `mattermost-admin …` where scripts ran `mmctl …`, or set environment.variables yourself",
        _ => "no equivalent needed: the new module installs mattermost-admin (mmctl in local mode as the service user)",
    };
    run.report(Section::Dropped, "socket.export", text);
}

/// nixpkgs' telemetry switches are two Mattermost settings.
fn telemetry(run: &mut Run) {
    let Some(Value::Object(switches)) = run.module.take("telemetry") else {
        return;
    };
    for (name, value) in switches {
        let option = format!("telemetry.{name}");
        let setting = match name.as_str() {
            "enableSecurityAlerts" => "ServiceSettings.EnableSecurityFixAlert",
            "enableDiagnostics" => "LogSettings.EnableDiagnostics",
            _ => {
                run.report(Section::Dropped, &option, "not a telemetry switch this importer knows: Mattermost's own are ServiceSettings.EnableSecurityFixAlert, LogSettings.EnableDiagnostics and MetricsSettings.Enable; set the one it stood for in settings");
                continue;
            }
        };
        offer(run, setting, value, &option, false);
    }
}

fn config_mode(run: &mut Run) {
    let mutable = run
        .module
        .bool("mutableConfig", &mut run.ctx.report)
        .unwrap_or(false);
    let text = if mutable {
        "true: no switch needed. config.json stays Mattermost's own, in place, with the System Console's changes; what the new config sets (settings) reaches Mattermost as MM_* variables, which win over config.json and show as locked in the System Console"
    } else {
        "false: no switch needed. What the new config sets reaches Mattermost as MM_* variables and is locked in the System Console, as the regenerated config.json was; config.json itself is no longer rewritten at each start, so anything edited in the System Console now stays"
    };
    run.report(Section::Dropped, "mutableConfig", text);
    let text = match (run.module.bool("preferNixConfig", &mut run.ctx.report), mutable) {
        (Some(true), _) => "true: no switch needed; the configuration always wins over config.json (MM_* variables), as it did",
        (Some(false), true) => "false, with mutableConfig: a change: what the System Console changed in config.json used to win over the Nix settings after the first start; now the configuration's settings win (MM_* variables). Move any value you changed in the System Console and want to keep into settings",
        (Some(false), false) => "false: no effect without mutableConfig; the configuration always wins over config.json (MM_* variables)",
        (None, _) => "not in the JSON (its default is true from system.stateVersion 25.05); the configuration always wins over config.json (MM_* variables)",
    };
    run.report(Section::Dropped, "preferNixConfig", text);
}

fn plugins(run: &mut Run) {
    let plugins = match run.module.take("plugins") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            run.report(
                Section::Dropped,
                "plugins",
                format!("expected a list, found {other}; not imported"),
            );
            return;
        }
        None => Vec::new(),
    };
    if plugins.is_empty() {
        run.report(Section::Carried, "plugins", "none: nothing to carry");
        return;
    }
    for plugin in plugins {
        let name = match &plugin {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        run.report(Section::Dropped, "plugins", format!("{name}: no equivalent; the new module installs no plugins from Nix. The plugin stays unpacked in the plugin directory (kept in place) and enabled as before, but its bundle goes with the old system generation: upload it once after the switch with `mattermost-admin plugin add {name}` (needs settings.PluginSettings.EnableUploads = true while you do), or install it from the Marketplace"));
    }
}

/// `pluginsBundle`: a directory of plugin tarballs that nixpkgs linked at
/// `<dataDir>/data/plugins` (by default the repacked `plugins`).
fn plugins_bundle(run: &mut Run) {
    let (data, user, group) = (&run.facts.data_dir, &run.facts.user, &run.facts.group);
    let text = match run.module.take("pluginsBundle") {
        None => "null: no bundle, nothing to carry".to_string(),
        Some(Value::String(path)) => format!("{path}: no equivalent; the new module links no plugin tarballs from the store. The plugins it held stay unpacked and enabled, but the link {data}/data/plugins points into the old system generation: after the switch, replace it by a directory (rm {data}/data/plugins && install -d -o {user} -g {group} -m 0750 {data}/data/plugins) and upload each plugin once with `mattermost-admin plugin add FILE`, see plugins"),
        Some(other) => format!("expected a store path or null, found {other}; not imported"),
    };
    run.report(Section::Dropped, "pluginsBundle", text);
}

fn matterircd(run: &mut Run) {
    let enabled = run
        .module
        .bool("matterircd.enable", &mut run.ctx.report)
        .unwrap_or(false);
    let package = run.module.string("matterircd.package", &mut run.ctx.report);
    let parameters: Vec<String> = match run.module.take("matterircd.parameters") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    for option in ["matterircd.package", "matterircd.parameters"] {
        run.report(
            Section::Dropped,
            option,
            "matterircd's own, see matterircd.enable",
        );
    }
    if !enabled {
        run.report(
            Section::Dropped,
            "matterircd.enable",
            "false: nothing to carry",
        );
        return;
    }
    let program = package.map_or("${pkgs.matterircd}".into(), |p| p);
    let command = std::iter::once(format!("{program}/bin/matterircd"))
        .chain(parameters.iter().map(|p| format!("{p:?}")))
        .collect::<Vec<_>>()
        .join(" ");
    run.report(Section::Dropped, "matterircd.enable", format!("true: no equivalent; matterircd is a separate service. Keep it with a unit of your own: systemd.services.matterircd = {{ wantedBy = [ \"multi-user.target\" ]; serviceConfig = {{ DynamicUser = true; ExecStart = \"{}\"; }}; }} (with pkgs.matterircd in place of the store path)", command.replace('"', "\\\"")));
}

/// nixpkgs' default `database.port`.
const DEFAULT_PORT: u16 = 5432;

/// `database.port`: a number, or a string holding one (a hand-made JSON, an option set from
/// an environment variable) carried as that number; anything else is reported and nixpkgs'
/// default applies.
fn database_port(run: &mut Run) -> u16 {
    let value = match run.module.take("database.port") {
        None => return DEFAULT_PORT,
        Some(v) => v,
    };
    let port = match &value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u16>().ok(),
        _ => None,
    }
    .filter(|p| *p != 0);
    match (port, &value) {
        (Some(p), Value::String(s)) => {
            run.report(
                Section::Derived,
                "database.port",
                format!("the string {s:?} read as the port number {p}"),
            );
            p
        }
        (Some(p), _) => p,
        (None, _) => {
            run.report(
                Section::Dropped,
                "database.port",
                format!(
                    "{value}: not a port number (1 to 65535); nixpkgs' default {DEFAULT_PORT} is used instead: set database.port by hand if the server listens elsewhere"
                ),
            );
            DEFAULT_PORT
        }
    }
}

fn database(run: &mut Run) -> Result<(), ImportError> {
    let driver = string_or(run, "database.driver", "postgres");
    if driver != "postgres" {
        return Err(invalid(
            "database.driver",
            format!("{driver:?}: only PostgreSQL is supported (Mattermost 11 removed MySQL)"),
            "move the data to PostgreSQL first (e.g. with pgloader), switch database.driver to \"postgres\", then import again",
        ));
    }
    let create = bool_or(run, "database.create", true);
    // nixpkgs' default is `stateVersion >= 25.05 && host == "localhost"`; `nix eval` always
    // prints the value, so this only covers a hand-made JSON.
    let peer_auth = bool_or(run, "database.peerAuth", false);
    let socket_path = string_or(run, "database.socketPath", "/run/postgresql");
    let from_environment = bool_or(run, "database.fromEnvironment", false);
    let name = string_or(run, "database.name", DEFAULT_NAME);
    let host = string_or(run, "database.host", "localhost");
    let port = database_port(run);
    let user = string_or(run, "database.user", DEFAULT_NAME);
    let password = run.module.string("database.password", &mut run.ctx.report);
    let extra_options = match run.module.take("database.extraConnectionOptions") {
        Some(Value::Object(map)) => map,
        _ => Default::default(),
    };
    run.facts.database = Database {
        create,
        peer_auth,
        socket_path,
        from_environment,
        name,
        host,
        port,
        user,
        password,
        extra_options,
    };
    Ok(())
}
