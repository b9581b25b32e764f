//! The winning values in the typed sections of the schema (external URL, listen, directories,
//! database, file storage, GitLab sign-in, SMTP), and everything else in `settings` or, for
//! secrets, `setting_files`.

use serde_json::Value;

use super::layers::{Candidate, Resolved};
use super::{Module, Run};
use crate::bag::show;
use crate::catalogue::{Catalogue, Setting};
use crate::diag::{Diagnostic, Diagnostics};
use crate::dsn::{self, Dsn};
use crate::gitlab_sso;
use crate::report::{Origin, Section};
use crate::secrets::Secret;
use crate::smtp;
use crate::ImportError;

/// Lift every typed section, then place the rest.
pub fn lift(run: &mut Run, mut r: Resolved) -> Result<(), ImportError> {
    site(run, &mut r)?;
    listen(run, &mut r);
    directories(run, &mut r);
    database(run, &mut r)?;
    file_storage(run, &mut r);
    gitlab(run, &mut r);
    smtp(run, &mut r);
    nginx(run);
    free_form(run, r);
    Ok(())
}

fn take(r: &mut Resolved, path: &str) -> Option<Candidate> {
    let s = Catalogue::get().by_path(path)?;
    r.remove(s.env_var)
}

fn peek<'a>(r: &'a Resolved, path: &str) -> Option<&'a Candidate> {
    r.get(Catalogue::get().by_path(path)?.env_var)
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn carried(run: &mut Run, origin: Origin, text: String) {
    run.ctx.report.add(Section::Carried, Some(origin), text);
}

fn derived(run: &mut Run, origin: Origin, text: String) {
    run.ctx.report.add(Section::Derived, Some(origin), text);
}

/// Where to find a secret the inputs did not hold.
fn how_to_get(run: &Run, variable: &str) -> String {
    match &run.facts.env_file {
        Some(f) if f.unreadable.is_some() => format!(
            "the value of {variable} in {} (it could not be read here; run the import as root on the host to have it split)",
            f.path
        ),
        _ => format!("it was in none of the inputs (Mattermost reads it as {variable}): set it, or take it from the System Console's config.json"),
    }
}

/// Register a secret and say when its value sat in the Nix store.
fn secret(run: &mut Run, file: &str, what: &str, variable: &str, c: Option<&Candidate>) -> String {
    if let Some(c) = c.filter(|c| c.in_store) {
        derived(run, c.origin.clone(), format!("{what}: the value sat in the Nix store, readable by every local user; it now lives in a root-only file, but change it after the move"));
    }
    let how = how_to_get(run, variable);
    run.ctx.secrets.add(Secret {
        file: file.into(),
        what: what.into(),
        origin: c.map(|c| c.origin.clone()),
        value: c.map(|c| as_str(&c.value)),
        how_to_get: Some(how),
    })
}

fn invalid(key: &str, message: String, hint: &str) -> ImportError {
    ImportError::Invalid(Diagnostics::from(
        Diagnostic::new(key, message).with_hint(hint),
    ))
}

// ---- external URL ----

fn site(run: &mut Run, r: &mut Resolved) -> Result<(), ImportError> {
    let Some(c) = take(r, "ServiceSettings.SiteURL") else {
        return Err(invalid(
            "external_url",
            "no site URL (services.mattermost.siteUrl)".into(),
            "import the whole of config.services.mattermost",
        ));
    };
    let raw = as_str(&c.value);
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        invalid(
            "external_url",
            format!("{}: {raw:?} is not a URL ({e})", c.origin),
            "siteUrl must be http(s)://HOST[:PORT]",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "external_url",
            format!(
                "{}: {raw:?} is not an http or https URL with a host",
                c.origin
            ),
            "siteUrl must be http(s)://HOST[:PORT]",
        ));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(invalid(
            "external_url",
            format!("{}: {raw:?} has a path: gitlab-mattermost serves Mattermost at the root of its host name", c.origin),
            "serve Mattermost on a host name of its own (e.g. https://chat.example.com) first, then import again",
        ));
    }
    let text = url.as_str().trim_end_matches('/').to_string();
    run.ctx
        .set_out(&["external_url"], Value::String(text.clone()));
    carried(
        run,
        c.origin,
        format!("external_url = {text:?} (ServiceSettings.SiteURL)"),
    );
    Ok(())
}

// ---- listen ----

fn listen(run: &mut Run, r: &mut Resolved) {
    let Some(c) = take(r, "ServiceSettings.ListenAddress") else {
        return;
    };
    let text = as_str(&c.value);
    let (host, port) = text.rsplit_once(':').unwrap_or((text.as_str(), ""));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(port) = port.parse::<u16>() else {
        run.ctx.report.add(
            Section::Dropped,
            Some(c.origin),
            format!(
                "ListenAddress {text:?} has no port number; the default 127.0.0.1:8065 applies"
            ),
        );
        return;
    };
    // `:8065` listens everywhere, as 0.0.0.0 does.
    let address = if host.is_empty() { "0.0.0.0" } else { host };
    run.ctx
        .set_out(&["listen", "address"], Value::String(address.into()));
    run.ctx.set_out(&["listen", "port"], Value::from(port));
    carried(
        run,
        c.origin,
        format!(
            "listen.address = {address:?}, listen.port = {port} (ServiceSettings.ListenAddress)"
        ),
    );
}

// ---- directories ----

fn directories(run: &mut Run, r: &mut Resolved) {
    for (setting, key) in [
        ("LogSettings.FileLocation", "logs"),
        ("PluginSettings.Directory", "plugins"),
        ("PluginSettings.ClientDirectory", "client_plugins"),
    ] {
        let Some(c) = take(r, setting) else { continue };
        let dir = as_str(&c.value).trim_end_matches('/').to_string();
        run.ctx
            .set_out(&["directories", key], Value::String(dir.clone()));
        let text = format!("directories.{key} = {dir:?} ({setting}), in place");
        if c.implicit {
            derived(run, c.origin, text);
        } else {
            carried(run, c.origin, text);
        }
    }
}

// ---- database ----

/// The database as the old module connected to it: its own options, or a DataSource from
/// `settings` or the environment, which win over them.
fn database(run: &mut Run, r: &mut Resolved) -> Result<(), ImportError> {
    if let Some(c) = take(r, "SqlSettings.DriverName") {
        if as_str(&c.value) != "postgres" {
            return Err(invalid(
                "database",
                format!(
                    "{}: SqlSettings.DriverName {}: only PostgreSQL is supported",
                    c.origin, c.value
                ),
                "move the data to PostgreSQL first (e.g. with pgloader), then import again",
            ));
        }
        carried(
            run,
            c.origin,
            "SqlSettings.DriverName \"postgres\": the only driver, implied by database".into(),
        );
    }
    run.report(
        Section::Carried,
        "database.driver",
        "\"postgres\", the only driver",
    );
    let replicas = take(r, "SqlSettings.DataSourceReplicas");
    let from_environment = run.facts.database.from_environment;
    let dsn = take(r, "SqlSettings.DataSource");
    let text = match (&dsn, from_environment) {
        (Some(c), true) => format!("true: the DataSource is the one from {}", c.origin),
        (None, true) => "true, but no MM_SQLSETTINGS_DATASOURCE was found in the inputs".into(),
        (_, false) => "false: the database options describe the connection".into(),
    };
    run.report(Section::Carried, "database.fromEnvironment", text);
    match dsn {
        Some(c) => database_from_dsn(run, &c)?,
        None if from_environment => database_from_options(run, true),
        None => database_from_options(run, false),
    }
    if let Some(c) = replicas {
        read_replicas(run, &c);
    }
    Ok(())
}

fn database_from_options(run: &mut Run, force_password: bool) {
    let db = std::mem::take(&mut run.facts.database);
    let origin = Module::origin(if db.peer_auth {
        "database.peerAuth"
    } else {
        "database.host"
    });
    for (option, value) in [("database.name", &db.name), ("database.user", &db.user)] {
        run.report(Section::Carried, option, format!("{value:?}, see database"));
    }
    // nixpkgs takes a `host` with a slash for a socket directory (password authentication
    // over the socket); the new module reaches a socket with peer authentication only.
    let host_is_socket = !db.peer_auth && db.host.contains('/');
    let local = (db.peer_auth || host_is_socket) && !force_password;
    let text = if db.peer_auth && !force_password {
        "true: peer authentication over the unix socket"
    } else if db.peer_auth {
        "true, but the DataSource came from the environment, which was not read: password authentication is assumed until the import runs on the host"
    } else if host_is_socket && !force_password {
        "false, with database.host a socket directory: password authentication over the socket becomes peer authentication over it (the role must be the service user's name; the password is not carried)"
    } else {
        "false: password authentication over TCP"
    };
    run.report(Section::Carried, "database.peerAuth", text);
    if local {
        let (socket_dir, option) = if db.peer_auth {
            (&db.socket_path, "database.socketPath")
        } else {
            (&db.host, "database.host")
        };
        local_database(run, &db.name, &db.user, socket_dir, origin);
        run.report(
            Section::Carried,
            option,
            format!("database.socket_dir = {socket_dir:?}"),
        );
        let unused = if db.peer_auth {
            "database.host"
        } else {
            "database.socketPath"
        };
        run.report(
            Section::Dropped,
            unused,
            "not used to reach the database over the socket",
        );
        run.report(
            Section::Dropped,
            "database.port",
            "not used over the unix socket",
        );
        let text = if db.password.is_some() {
            "not used with peer authentication: not carried (value not shown)"
        } else {
            "not set, and peer authentication needs none"
        };
        run.report(Section::Dropped, "database.password", text);
    } else {
        let dsn = Dsn {
            user: Some(db.user.clone()),
            password: db.password.clone().filter(|p| !p.is_empty()),
            host: Some(db.host.clone()),
            port: Some(db.port),
            dbname: Some(db.name.clone()),
            sslmode: db.extra_options.get("sslmode").map(as_str),
            other: db
                .extra_options
                .iter()
                .filter(|(k, _)| *k != "sslmode")
                .map(|(k, v)| (k.clone(), as_str(v)))
                .collect(),
        };
        let password = Candidate {
            via: None,
            value: Value::String(dsn.password.clone().unwrap_or_default()),
            origin: Module::origin("database.password"),
            layer: super::layers::Layer::Option,
            implicit: false,
            in_store: true,
        };
        run.report(
            Section::Dropped,
            "database.socketPath",
            "not used with password authentication over TCP",
        );
        run.report(
            Section::Carried,
            "database.port",
            format!("database.port = {}", db.port),
        );
        if db.password.as_deref() == Some("mmpgsecret") {
            run.report(Section::Derived, "database.password", "this is nixpkgs' published default password: change it after the move (ALTER ROLE … PASSWORD, and the secret file)");
        }
        external_database(
            run,
            &dsn,
            origin,
            dsn.password.is_some().then_some(&password),
        );
        if db.create && is_local_host(&db.host) {
            run.extra(Module::origin("database.create"), &["services", "postgresql", "enable"], Value::Bool(true), "services.mattermost enabled PostgreSQL on this host (database.create); the new module does so only for database.kind = \"local\" (peer authentication, no password), which you may switch to once the role is the service user's");
        }
    }
    if !db.extra_options.is_empty() {
        let names: Vec<&str> = db.extra_options.keys().map(String::as_str).collect();
        let text = if local {
            format!("{}: not used over the unix socket", names.join(", "))
        } else {
            format!("{}: sslmode is carried; the compiler builds the rest of the DSN itself (with connect_timeout=10)", names.join(", "))
        };
        run.report(Section::Dropped, "database.extraConnectionOptions", text);
    }
    let text = match (db.create, local) {
        (true, true) => "true: the new module ensures the database and its owner for database.kind = \"local\"; they exist already and are kept",
        (false, true) => "false: the database exists already; with database.kind = \"local\" the new module still ensures it (and makes the role the owner when the names match)",
        (true, false) => "true: the role and the database exist already; the new module leaves an external database alone",
        (false, false) => "false: the new module leaves an external database alone, as the old one did",
    };
    run.report(Section::Carried, "database.create", text);
}

fn is_local_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]" | "")
}

fn local_database(run: &mut Run, name: &str, role: &str, socket_dir: &str, origin: Origin) {
    let user = run.facts.user.clone();
    run.ctx
        .set_out(&["database", "kind"], Value::String("local".into()));
    run.ctx
        .set_out(&["database", "name"], Value::String(name.into()));
    run.ctx
        .set_out(&["database", "user"], Value::String(user.clone()));
    run.ctx.set_out(
        &["database", "socket_dir"],
        Value::String(socket_dir.trim_end_matches('/').into()),
    );
    let mut text = format!("database.kind = \"local\", name {name:?}, user {user:?}: the same database over the unix socket in {socket_dir}, peer authentication, no password");
    if role != user {
        text.push_str(&format!("; the old module named the role {role:?}, but peer authentication connects as the system user {user:?}, so that is the role in use"));
    }
    derived(run, origin, text);
}

fn external_database(run: &mut Run, d: &Dsn, origin: Origin, password: Option<&Candidate>) {
    run.ctx
        .set_out(&["database", "kind"], Value::String("external".into()));
    let host = d.host.clone().unwrap_or_else(|| "localhost".into());
    let port = d.port.unwrap_or(5432);
    let name = d.dbname.clone().unwrap_or_else(|| "mattermost".into());
    let user = d.user.clone().unwrap_or_else(|| run.facts.user.clone());
    // lib/pq, which Mattermost uses, defaults to sslmode=require, as the schema does.
    let sslmode = d.sslmode.clone().unwrap_or_else(|| "require".into());
    for (key, value) in [
        ("host", Value::String(host.clone())),
        ("port", Value::from(port)),
        ("name", Value::String(name.clone())),
        ("user", Value::String(user.clone())),
        ("sslmode", Value::String(sslmode.clone())),
    ] {
        run.ctx.set_out(&["database", key], value);
    }
    carried(run, origin, format!("database.kind = \"external\", host {host:?}, port {port}, name {name:?}, user {user:?}, sslmode {sslmode:?}: the same database, password authentication over TCP"));
    let path = secret(
        run,
        "database-password",
        "the PostgreSQL password of the Mattermost role",
        "the password inside MM_SQLSETTINGS_DATASOURCE",
        password,
    );
    run.ctx
        .set_out(&["database", "password_file"], Value::String(path));
}

fn database_from_dsn(run: &mut Run, c: &Candidate) -> Result<(), ImportError> {
    let d = dsn::parse(&as_str(&c.value)).map_err(|e| {
        invalid(
            "database",
            format!("{}: SqlSettings.DataSource: {e}", c.origin),
            "give it as postgres://USER:PASSWORD@HOST:PORT/NAME?sslmode=… or host=… dbname=…",
        )
    })?;
    for option in [
        "database.host",
        "database.port",
        "database.name",
        "database.user",
        "database.password",
        "database.peerAuth",
        "database.socketPath",
        "database.extraConnectionOptions",
        "database.create",
    ] {
        run.report(
            Section::Dropped,
            option,
            format!(
                "not in effect: the DataSource from {} overrides the database options",
                c.origin
            ),
        );
    }
    run.facts.database = Default::default();
    if d.is_socket() {
        let dir = d.host.clone().unwrap_or_else(|| "/run/postgresql".into());
        let name = d.dbname.clone().unwrap_or_else(|| "mattermost".into());
        let role = d.user.clone().unwrap_or_else(|| run.facts.user.clone());
        local_database(run, &name, &role, &dir, c.origin.clone());
        if d.password.is_some() {
            run.ctx.report.add(Section::Dropped, Some(c.origin.clone()), "the DataSource's password: peer authentication over the socket uses none (value not copied)");
        }
        return Ok(());
    }
    let password = Candidate {
        value: Value::String(d.password.clone().unwrap_or_default()),
        ..c.clone()
    };
    external_database(
        run,
        &d,
        c.origin.clone(),
        d.password.is_some().then_some(&password),
    );
    if !d.other.is_empty() {
        let names: Vec<&str> = d.other.keys().map(String::as_str).collect();
        run.ctx.report.add(Section::Dropped, Some(c.origin.clone()), format!("DataSource parameters {}: the compiler builds the DSN itself (with connect_timeout=10)", names.join(", ")));
    }
    Ok(())
}

fn read_replicas(run: &mut Run, c: &Candidate) {
    let external = run
        .ctx
        .out
        .get("database")
        .and_then(|d| d.get("kind"))
        .and_then(Value::as_str)
        == Some("external");
    if !external {
        run.ctx.report.add(Section::Dropped, Some(c.origin.clone()), "SqlSettings.DataSourceReplicas: read replicas need database.kind = \"external\"; not carried");
        return;
    }
    let hosts: Vec<Value> = dsn::replica_hosts(&c.value)
        .into_iter()
        .map(Value::String)
        .collect();
    carried(run, c.origin.clone(), format!("SqlSettings.DataSourceReplicas (secret) -> database.read_replicas {} (same name, user, password and sslmode as the primary)", Value::Array(hosts.clone())));
    run.ctx
        .set_out(&["database", "read_replicas"], Value::Array(hosts));
}

// ---- file storage ----

fn file_storage(run: &mut Run, r: &mut Resolved) {
    let driver = take(r, "FileSettings.DriverName");
    let dir = take(r, "FileSettings.Directory");
    let s3 = driver
        .as_ref()
        .is_some_and(|c| as_str(&c.value) == "amazons3");
    if !s3 {
        if let Some(c) = driver {
            if as_str(&c.value) == "local" {
                carried(
                    run,
                    c.origin,
                    "file_storage.driver = \"local\" (FileSettings.DriverName)".into(),
                );
            } else {
                run.ctx.report.add(
                    Section::Dropped,
                    Some(c.origin),
                    format!(
                        "FileSettings.DriverName {}: only local and amazons3 exist",
                        c.value
                    ),
                );
            }
        }
        run.ctx
            .set_out(&["file_storage", "driver"], Value::String("local".into()));
        if let Some(c) = dir {
            let d = as_str(&c.value).trim_end_matches('/').to_string();
            run.ctx
                .set_out(&["file_storage", "directory"], Value::String(d.clone()));
            let text = format!("file_storage.directory = {d:?} (FileSettings.Directory): the uploaded files, in place");
            if c.implicit {
                derived(run, c.origin, text);
            } else {
                carried(run, c.origin, text);
            }
        }
        return;
    }
    if let Some(c) = driver {
        carried(
            run,
            c.origin,
            "file_storage.driver = \"s3\" (FileSettings.DriverName amazons3)".into(),
        );
    }
    run.ctx
        .set_out(&["file_storage", "driver"], Value::String("s3".into()));
    if let Some(c) = dir.filter(|c| !c.implicit) {
        run.ctx.report.add(
            Section::Dropped,
            Some(c.origin),
            "FileSettings.Directory: not used with S3 storage",
        );
    }
    crate::typed::carry_s3_fields(&mut run.ctx, |p| take(r, p).map(|c| (c.value, c.origin)));
    let key = take(r, "FileSettings.AmazonS3SecretAccessKey");
    let has_id = run
        .ctx
        .out
        .get("file_storage")
        .and_then(|f| f.get("access_key_id"))
        .is_some();
    if key.is_some() || has_id {
        let p = secret(
            run,
            "s3-secret-access-key",
            "the S3 secret access key (FileSettings.AmazonS3SecretAccessKey)",
            "MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY",
            key.as_ref(),
        );
        run.ctx.set_out(
            &["file_storage", "secret_access_key_file"],
            Value::String(p.clone()),
        );
        if let Some(c) = key {
            carried(
                run,
                c.origin,
                format!("file_storage.secret_access_key_file = {p:?} (secret, see secrets)"),
            );
        }
    }
}

// ---- GitLab sign-in ----

fn gitlab(run: &mut Run, r: &mut Resolved) {
    if peek(r, "GitLabSettings.Enable").is_none_or(|c| c.value != Value::Bool(true)) {
        // Off: whatever GitLabSettings there are stay free-form settings.
        return;
    }
    let Some(enable) = take(r, "GitLabSettings.Enable") else {
        return;
    };
    run.ctx.set_out(&["gitlab", "enable"], Value::Bool(true));
    carried(
        run,
        enable.origin.clone(),
        "gitlab.enable = true (GitLabSettings.Enable)".into(),
    );
    let endpoints =
        gitlab_sso::take_endpoints(|p| take(r, p).map(|c| (as_str(&c.value), c.origin)));
    let base = gitlab_sso::url_from_endpoints(&endpoints);
    match &base {
        Some(b) => {
            run.ctx
                .set_out(&["gitlab", "url"], Value::String(b.clone()));
            derived(
                run,
                enable.origin.clone(),
                format!("gitlab.url = {b:?}: GitLab's address, from the OAuth endpoints"),
            );
        }
        None => run.ctx.report.add(
            Section::Dropped,
            Some(enable.origin.clone()),
            "GitLab sign-in needs GitLab's URL, and no endpoint names it: set gitlab.url by hand",
        ),
    }
    gitlab_sso::carry_endpoints(&mut run.ctx, base.as_deref(), endpoints);
    let id = take(r, "GitLabSettings.Id").map(|c| (as_str(&c.value), c.origin));
    let how = how_to_get(run, "MM_GITLABSETTINGS_ID");
    gitlab_sso::carry_application_id(
        &mut run.ctx,
        id,
        &enable.origin,
        format!("{how}; GitLab shows it under Admin > Applications"),
    );
    let c = take(r, "GitLabSettings.Secret");
    let p = secret(
        run,
        "gitlab-secret",
        "the GitLab OAuth application secret (GitLabSettings.Secret)",
        "MM_GITLABSETTINGS_SECRET",
        c.as_ref(),
    );
    run.ctx
        .set_out(&["gitlab", "secret_file"], Value::String(p.clone()));
    if let Some(c) = c {
        carried(
            run,
            c.origin,
            format!("gitlab.secret_file = {p:?} (secret, see secrets)"),
        );
    }
    let (scope, origin) = match take(r, "GitLabSettings.Scope") {
        Some(c) => (as_str(&c.value), c.origin),
        None => (String::new(), enable.origin.clone()),
    };
    run.ctx
        .set_out(&["gitlab", "scope"], Value::String(scope.clone()));
    carried(run, origin, format!("gitlab.scope = {scope:?}, as before (Mattermost's default is \"\"; an application made by `gitlab-mattermost gitlab register` uses \"read_user\")"));
}

// ---- SMTP ----

/// EmailSettings describing a complete mail setup become the `smtp` section.
fn smtp(run: &mut Run, r: &mut Resolved) {
    let origin = peek(r, "EmailSettings.SMTPServer")
        .map(|c| c.origin.clone())
        .unwrap_or_else(|| Module::origin("settings"));
    let setup = match smtp::mail_setup(r) {
        None => return,
        Some(Err(why)) => return smtp::keep_free_form(&mut run.ctx, origin, &why),
        Some(Ok(setup)) => setup,
    };
    smtp::lift(&mut run.ctx, r, &setup, &origin);
    let auth = setup.auth;
    let pw = take(r, "EmailSettings.SMTPPassword");
    if pw.is_some() || auth {
        let p = secret(
            run,
            "smtp-password",
            "the SMTP password (EmailSettings.SMTPPassword)",
            "MM_EMAILSETTINGS_SMTPPASSWORD",
            pw.as_ref(),
        );
        run.ctx
            .set_out(&["smtp", "password_file"], Value::String(p.clone()));
        if let Some(c) = pw {
            carried(
                run,
                c.origin,
                format!("smtp.password_file = {p:?} (secret, see secrets)"),
            );
        }
    }
}

// ---- nginx ----

/// nixpkgs' module ran no reverse proxy: whatever the host put in front stays.
fn nginx(run: &mut Run) {
    run.ctx.set_out(&["nginx", "enable"], Value::Bool(false));
    derived(run, Module::origin("siteUrl"), "nginx.enable = false: services.mattermost ran no reverse proxy, so the host's own (e.g. services.nginx.virtualHosts) stays as it is. To use the compiler's vhost instead (websocket location, headers), remove yours and set nginx.enable = true with nginx.enableACME or nginx.certificate and nginx.certificateKey".into());
}

// ---- free-form ----

/// Everything left: `settings.<Category>.<Field>`, or `setting_files` for secrets.
fn free_form(run: &mut Run, r: Resolved) {
    for (env, c) in r {
        let Some(s) = Catalogue::get().by_env(&env) else {
            continue;
        };
        let path = s.path();
        if s.is_secret() {
            place_secret(run, s, &c);
            continue;
        }
        let mut keys: Vec<String> = vec!["settings".into(), s.category.to_string()];
        keys.extend(s.field.split('.').map(str::to_string));
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        run.ctx.set_out(&refs, c.value.clone());
        run.ctx.placed(&env, keys.clone(), c.origin.clone());
        let text = format!("settings.{path} = {} ({env})", show(s, &c.value));
        if c.implicit {
            derived(run, c.origin, text);
        } else {
            carried(run, c.origin, text);
        }
    }
}

fn place_secret(run: &mut Run, s: &Setting, c: &Candidate) {
    let path = s.path();
    let file = path.to_ascii_lowercase().replace('.', "-");
    let p = secret(
        run,
        &file,
        &format!("{path} ({})", s.env_var),
        s.env_var,
        Some(c),
    );
    run.ctx
        .set_out(&["setting_files", &path], Value::String(p.clone()));
    run.ctx.placed(
        s.env_var,
        vec!["setting_files".into(), path.clone()],
        c.origin.clone(),
    );
    carried(
        run,
        c.origin.clone(),
        format!("setting_files.\"{path}\" = {p:?} (secret, see secrets)"),
    );
}
