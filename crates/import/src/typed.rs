//! Lifting settings into the typed sections of the schema (external URL, listen, account,
//! directories, database, file storage, GitLab sign-in, SMTP), making explicit what Omnibus
//! derived implicitly; whatever no typed section owns goes to free-form `settings`.

use serde_json::Value;

use super::bag::{show, Candidate, Resolved};
use super::dsn::{self, Dsn};
use super::gitlab_sso;
use super::mapping::is_omnibus_path;
use super::report::{Origin, Section};
use super::secrets::Secret;
use super::smtp;
use super::{Ctx, ImportError, RbValue};
use crate::catalogue::{Catalogue, Setting};
use crate::diag::{Diagnostic, Diagnostics};

/// Take the winning value of a setting out of the resolved set.
fn take(r: &mut Resolved, path: &str) -> Option<Candidate> {
    let s = Catalogue::get().by_path(path)?;
    r.remove(s.env_var)
}

fn setting(path: &str) -> Option<&'static Setting> {
    Catalogue::get().by_path(path)
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A gitlab.rb DSL call's string argument.
fn call(ctx: &Ctx, name: &str) -> Option<(String, Origin)> {
    let rv = ctx.calls.get(name)?;
    match &rv.value {
        gitlab_rb::Value::Str(s) => Some((s.clone(), rv.origin.clone())),
        _ => None,
    }
}

fn fact<'c>(ctx: &'c Ctx, key: &str) -> Option<&'c RbValue> {
    ctx.facts.get(key)
}

fn fact_is_false(ctx: &Ctx, key: &str) -> bool {
    fact(ctx, key).is_some_and(|rv| matches!(rv.value, gitlab_rb::Value::Bool(false)))
}

fn carried(ctx: &mut Ctx, origin: Origin, text: String) {
    ctx.report.add(Section::Carried, Some(origin), text);
}

fn derived(ctx: &mut Ctx, what: &str, text: String) {
    ctx.report
        .add(Section::Derived, Some(Origin::Omnibus(what.into())), text);
}

fn via(c: &Candidate) -> String {
    c.via
        .as_ref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default()
}

/// Lift every typed section, in dependency order.
pub fn lift(ctx: &mut Ctx, r: &mut Resolved) -> Result<(), ImportError> {
    let site = site(ctx, r)?;
    listen(ctx, r);
    account(ctx);
    directories(ctx, r);
    database(ctx, r);
    file_storage(ctx, r);
    gitlab(ctx, r, &site);
    smtp(ctx, r);
    allowed_untrusted(ctx, r);
    Ok(())
}

fn invalid(msg: String, origin: Option<&Origin>, hint: &str) -> ImportError {
    // Positioned in gitlab.rb, the key is the one written there.
    let d = match origin {
        Some(o @ Origin::Rb { key, .. }) => {
            let d = Diagnostic::new(key.clone(), msg);
            match o.diag() {
                Some(at) => d.at(at),
                None => d,
            }
        }
        Some(o) => Diagnostic::new("external_url", format!("{o}: {msg}")),
        None => Diagnostic::new("external_url", msg),
    };
    ImportError::Invalid(Diagnostics::from(d.with_hint(hint)))
}

/// The keys Mattermost's URL can come from, in the order `site` tries them.
const URL_KEYS: &[&str] = &[
    "mattermost_external_url",
    "mattermost['service_site_url']",
    "mattermost['env']['MM_SERVICESETTINGS_SITEURL']",
    "gitlab_rails['mattermost_host']",
];

/// Statements that would have set the URL but could not be evaluated (interpolation,
/// `ENV[…]`, a method call), latest last.
fn dynamic_url_statements(ctx: &Ctx) -> Vec<&super::Dynamic> {
    ctx.dynamic
        .iter()
        .filter(|d| URL_KEYS.contains(&d.key.as_str()))
        .collect()
}

/// No URL at all. When a statement sets one that cannot be evaluated, say which line and
/// what to write instead rather than "sets no URL".
fn no_url(ctx: &Ctx) -> ImportError {
    let dynamic = dynamic_url_statements(ctx);
    let Some(last) = dynamic.last() else {
        if let Some(rv) = ctx.calls.get("mattermost_external_url") {
            return invalid(
                format!(
                    "expected a string URL, found {}",
                    super::rb::kind(&rv.value)
                ),
                Some(&rv.origin),
                "write it as mattermost_external_url 'https://mattermost.example.com'",
            );
        }
        return invalid(
            "gitlab.rb sets no mattermost_external_url (nor mattermost['service_site_url'] or gitlab_rails['mattermost_host']): Mattermost's URL is required".into(),
            None,
            "add mattermost_external_url 'https://mattermost.example.com' to the gitlab.rb you import",
        );
    };
    let others: Vec<String> = dynamic[..dynamic.len() - 1]
        .iter()
        .map(|d| d.origin.to_string())
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (as does {})", others.join(", "))
    };
    invalid(
        format!(
            "{}, so Mattermost's URL cannot be imported; it is required{also}",
            last.reason
        ),
        Some(&last.origin),
        &literal_suggestion(last),
    )
}

/// What to write instead of a statement that cannot be evaluated: the statement with every
/// `#{…}` replaced by a placeholder naming what it was.
fn literal_suggestion(d: &super::Dynamic) -> String {
    let first_line = d.text.lines().next().unwrap_or("");
    if d.text.lines().count() == 1 && first_line.contains("#{") && !d.may_hold_secret {
        format!(
            "write the URL literally, filling in what each #{{…}} was on the old host: {}",
            placeholders(first_line)
        )
    } else {
        format!(
            "write the URL literally, as it was on the old host: {} 'https://mattermost.example.com'",
            d.key
        )
    }
}

/// `"https://chat.#{ENV['X']}"` → `"https://chat.<ENV['X']>"`, braces nested or not.
fn placeholders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("#{") {
        out.push_str(&rest[..i]);
        let inner = &rest[i + 2..];
        let mut depth = 1usize;
        let mut end = inner.len();
        for (j, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push('<');
        out.push_str(inner[..end].trim());
        out.push('>');
        rest = inner.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

// ---- external URL ----

/// `external_url` from `mattermost_external_url` (which Omnibus used for nginx and SiteURL),
/// else `service_site_url`, else GitLab's `mattermost_host`.
fn site(ctx: &mut Ctx, r: &mut Resolved) -> Result<url::Url, ImportError> {
    let from_call = call(ctx, "mattermost_external_url");
    let site_url = take(r, "ServiceSettings.SiteURL");
    let host = fact(ctx, "gitlab_rails['mattermost_host']").and_then(|rv| match &rv.value {
        gitlab_rb::Value::Str(s) => Some((s.clone(), rv.origin.clone())),
        _ => None,
    });
    let chosen = from_call
        .clone()
        .or_else(|| {
            site_url
                .as_ref()
                .map(|c| (as_str(&c.value), c.origin.clone()))
        })
        .or_else(|| host.clone());
    let Some((raw, origin)) = chosen else {
        return Err(no_url(ctx));
    };
    let url = parse_site(&raw, &origin)?;
    let dynamic: Vec<super::Dynamic> = dynamic_url_statements(ctx).into_iter().cloned().collect();
    let chosen_key = match &origin {
        Origin::Rb { key, .. } => key.clone(),
        _ => String::new(),
    };
    // A later dynamic statement of the chosen key itself is reported by the generic check.
    for d in dynamic.into_iter().filter(|d| d.key != chosen_key) {
        let (key, reason, at) = (d.key, d.reason, d.origin);
        ctx.report.add(
            Section::Derived,
            Some(at),
            format!("{key} {reason}; external_url was taken from {origin} instead: check that it is the URL users open"),
        );
    }
    let text = url.as_str().trim_end_matches('/').to_string();
    ctx.set_out(&["external_url"], Value::String(text.clone()));
    let mut note = String::new();
    if raw.trim_end_matches('/') != text {
        note = format!(" (normalised from {raw:?}: an explicit default port in SiteURL broke GitLab's OAuth redirect match)");
    }
    carried(
        ctx,
        origin.clone(),
        format!("external_url = {text:?}{note}"),
    );
    // Omnibus let `service_site_url` differ from `mattermost_external_url` (an outer load
    // balancer, another port): it is then `site_url`, which SiteURL, mail links and the
    // OAuth redirect URIs follow while nginx keeps external_url.
    if let Some(c) = site_url {
        let other = as_str(&c.value);
        match parse_site(&other, &c.origin) {
            Ok(u) if u == url => carried(ctx, c.origin, "ServiceSettings.SiteURL: the same as external_url, which sets it".into()),
            Ok(u) => {
                let public = u.as_str().trim_end_matches('/').to_string();
                ctx.set_out(&["site_url"], Value::String(public.clone()));
                carried(ctx, c.origin, format!("site_url = {public:?} (Mattermost's SiteURL, mail links and OAuth redirect URIs; nginx keeps external_url {text:?})"));
            }
            Err(_) => ctx.report.add(Section::Dropped, Some(c.origin), format!("ServiceSettings.SiteURL {other:?} is not an http or https URL with a host and no path; Mattermost's SiteURL stays external_url {text:?}")),
        }
    }
    if let Some((h, o)) = host {
        let same = parse_site(&h, &o).is_ok_and(|u| u == url);
        let text2 = if same {
            "GitLab's pointer to Mattermost; it matches external_url. GitLab 19 reads only this key: keep it in the GitLab gitlab.rb".to_string()
        } else {
            format!("GitLab's pointer to Mattermost ({h:?}) differs from external_url {text:?}; fix it on the GitLab side (GitLab 19 reads only this key)")
        };
        ctx.report.add(Section::Derived, Some(o), text2);
    } else if from_call.is_some() {
        derived(ctx, "mattermost_external_url", format!("on the GitLab server set gitlab_rails['mattermost_host'] = \"{text}\": GitLab 19 no longer reads mattermost_external_url, and slash commands and \"create a Mattermost team\" need it"));
    }
    Ok(url)
}

fn parse_site(raw: &str, origin: &Origin) -> Result<url::Url, ImportError> {
    let hint = "Omnibus accepts only http or https with a host and no path";
    let url = url::Url::parse(raw.trim())
        .map_err(|e| invalid(format!("{raw:?} is not a URL ({e})"), Some(origin), hint))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            format!("{raw:?} is not an http or https URL with a host"),
            Some(origin),
            hint,
        ));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(invalid(
            format!("{raw:?} has a path; Mattermost is served at the root"),
            Some(origin),
            hint,
        ));
    }
    Ok(url)
}

// ---- listen ----

fn listen(ctx: &mut Ctx, r: &mut Resolved) {
    let addr = ctx.mm.remove("service_address");
    let port = ctx.mm.remove("service_port");
    let from_env = take(r, "ServiceSettings.ListenAddress");
    let (address, port_text, origin) = match (&from_env, &addr, &port) {
        (Some(c), _, _) => {
            let text = as_str(&c.value);
            let (a, p) = text.rsplit_once(':').unwrap_or((text.as_str(), ""));
            (
                a.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.to_string(),
                Some(c.origin.clone()),
            )
        }
        _ => (
            addr.as_ref()
                .map_or("127.0.0.1".into(), |a| super::rb::ruby_to_s(&a.value)),
            port.as_ref()
                .map_or("8065".into(), |p| super::rb::ruby_to_s(&p.value)),
            addr.as_ref().or(port.as_ref()).map(|rv| rv.origin.clone()),
        ),
    };
    let Ok(port_num) = port_text.parse::<u16>() else {
        let o = origin.or_else(|| port.map(|p| p.origin));
        ctx.report.add(
            Section::Dropped,
            o,
            format!("listen port {port_text:?} is not a port number; the default 8065 applies"),
        );
        return;
    };
    ctx.set_out(&["listen", "address"], Value::String(address.clone()));
    ctx.set_out(&["listen", "port"], Value::from(port_num));
    let text = format!("listen.address = {address:?}, listen.port = {port_num} (ServiceSettings.ListenAddress; nginx proxies to it)");
    match origin {
        Some(o) => carried(ctx, o, text),
        None => derived(ctx, "default service_address/service_port", text),
    }
}

// ---- account ----

fn account(ctx: &mut Ctx) {
    for (key, field) in [
        ("username", "user"),
        ("group", "group"),
        ("uid", "uid"),
        ("gid", "gid"),
    ] {
        let Some(rv) = ctx.mm.remove(key) else {
            continue;
        };
        let value = match (&rv.value, field) {
            (gitlab_rb::Value::Int(n), "uid" | "gid") if (1..=4_294_967_294).contains(n) => {
                Value::from(*n)
            }
            (gitlab_rb::Value::Str(s), "uid" | "gid") => match s.parse::<u32>() {
                Ok(n) if n >= 1 => Value::from(n),
                _ => {
                    ctx.report.add(
                        Section::Dropped,
                        Some(rv.origin),
                        format!("{s:?} is not a numeric id; the system will choose one"),
                    );
                    continue;
                }
            },
            (gitlab_rb::Value::Str(s), "user" | "group") if !s.is_empty() => {
                Value::String(s.clone())
            }
            (gitlab_rb::Value::Nil, _) => {
                ctx.report.add(
                    Section::Dropped,
                    Some(rv.origin),
                    "nil: the default applies",
                );
                continue;
            }
            (v, _) => {
                ctx.report.add(
                    Section::Dropped,
                    Some(rv.origin),
                    format!("unexpected {} here", super::rb::kind(v)),
                );
                continue;
            }
        };
        let note = if matches!(field, "uid" | "gid") {
            " (kept so the copied data directory keeps its owner)"
        } else {
            ""
        };
        ctx.set_out(&["account", field], value.clone());
        carried(ctx, rv.origin, format!("account.{field} = {value}{note}"));
    }
    if let Some(rv) = ctx.mm.remove("enable") {
        if matches!(rv.value, gitlab_rb::Value::Bool(false)) {
            ctx.report.add(
                Section::Derived,
                Some(rv.origin),
                "Mattermost was disabled in this gitlab.rb; imported anyway".to_string(),
            );
        } else {
            ctx.report.add(
                Section::Dropped,
                Some(rv.origin),
                "nothing to carry: the service runs whenever this config is rendered",
            );
        }
    }
}

pub fn account_user(ctx: &Ctx) -> String {
    ctx.out
        .get("account")
        .and_then(|a| a.get("user"))
        .and_then(Value::as_str)
        .unwrap_or("mattermost")
        .to_string()
}

// ---- directories ----

/// Place a directory: custom paths are kept; paths inside the Omnibus package become the new
/// layout's default and the report says what to copy.
fn place_dir(
    ctx: &mut Ctx,
    c: Option<Candidate>,
    omnibus_default: &str,
    new: &str,
    key: &[&str],
    copy: bool,
) {
    let (old, origin) = match &c {
        Some(c) => (as_str(&c.value), Some(c.origin.clone())),
        None => (omnibus_default.to_string(), None),
    };
    let dotted = key.join(".");
    if is_omnibus_path(&old) {
        ctx.set_out(key, Value::String(new.into()));
        let copy_note = if copy {
            format!("; copy {old} to {new} keeping owner and mode (migration guide)")
        } else {
            String::new()
        };
        let text =
            format!("{dotted} = {new:?}: Omnibus used {old}, inside the package tree{copy_note}");
        match origin {
            Some(o) => ctx.report.add(Section::Derived, Some(o), text),
            None => derived(ctx, "default", text),
        }
    } else {
        let trimmed = old.trim_end_matches('/');
        let value = if trimmed.is_empty() {
            old.clone()
        } else {
            trimmed.to_string()
        };
        ctx.set_out(key, Value::String(value.clone()));
        if let (Some(o), Some(c)) = (origin, &c) {
            carried(ctx, o, format!("{dotted} = {value:?}{}", via(c)));
        }
    }
}

fn directories(ctx: &mut Ctx, r: &mut Resolved) {
    ctx.set_out(
        &["directories", "data"],
        Value::String("/var/lib/mattermost".into()),
    );
    ctx.set_out(
        &["directories", "config"],
        Value::String("/var/lib/mattermost/config".into()),
    );
    derived(ctx, "mattermost['home'] = /var/opt/gitlab/mattermost", "directories.data = \"/var/lib/mattermost\" and directories.config = \"/var/lib/mattermost/config\"; copy /var/opt/gitlab/mattermost/config.json into the config directory (migration guide)".into());
    let logs = take(r, "LogSettings.FileLocation");
    place_dir(
        ctx,
        logs,
        "/var/log/gitlab/mattermost",
        "/var/log/mattermost",
        &["directories", "logs"],
        false,
    );
    let plugins = take(r, "PluginSettings.Directory");
    place_dir(
        ctx,
        plugins,
        "/var/opt/gitlab/mattermost/plugins",
        "/var/lib/mattermost/plugins",
        &["directories", "plugins"],
        true,
    );
    let client = take(r, "PluginSettings.ClientDirectory");
    place_dir(
        ctx,
        client,
        "/var/opt/gitlab/mattermost/client-plugins",
        "/var/lib/mattermost/client-plugins",
        &["directories", "client_plugins"],
        true,
    );
}

// ---- database ----

fn database(ctx: &mut Ctx, r: &mut Resolved) {
    if let Some(c) = take(r, "SqlSettings.DriverName") {
        if as_str(&c.value) == "postgres" {
            carried(
                ctx,
                c.origin,
                "SqlSettings.DriverName \"postgres\": the only driver, implied by database".into(),
            );
        } else {
            ctx.report.add(Section::Dropped, Some(c.origin), format!("SqlSettings.DriverName {}: only PostgreSQL is supported (GitLab Mattermost dropped MySQL in 12.1); move the data to PostgreSQL first (e.g. with pgloader)", c.value));
        }
    }
    let name_rv = ctx.mm.remove("database_name");
    let dsn = take(r, "SqlSettings.DataSource");
    let replicas = take(r, "SqlSettings.DataSourceReplicas");
    match dsn {
        None => omnibus_default_database(ctx, name_rv),
        Some(c) => match dsn::parse(&as_str(&c.value)) {
            Err(e) => {
                ctx.report.add(
                    Section::Dropped,
                    Some(c.origin),
                    format!("SqlSettings.DataSource: {e}; the Omnibus default database is assumed"),
                );
                omnibus_default_database(ctx, name_rv);
            }
            Ok(d) if d.is_socket() => local_database(ctx, &d, &c, name_rv),
            Ok(d) => external_database(ctx, &d, &c, replicas.as_ref()),
        },
    }
    if let Some(rep) = replicas {
        if ctx
            .out
            .get("database")
            .and_then(|d| d.get("kind"))
            .and_then(Value::as_str)
            != Some("external")
        {
            ctx.report.add(Section::Dropped, Some(rep.origin), "SqlSettings.DataSourceReplicas: read replicas need database.kind = \"external\"; not carried");
        }
    }
}

fn db_name(ctx: &mut Ctx, rv: Option<RbValue>, fallback: &str) -> String {
    match rv {
        Some(rv) => {
            let name = super::rb::ruby_to_s(&rv.value);
            carried(ctx, rv.origin, format!("database.name = {name:?}"));
            name
        }
        None => fallback.to_string(),
    }
}

/// The peer-authenticated local database every Omnibus install had unless told otherwise.
fn omnibus_default_database(ctx: &mut Ctx, name_rv: Option<RbValue>) {
    let name = db_name(ctx, name_rv, "mattermost_production");
    let role = fact(ctx, "postgresql['sql_mattermost_user']")
        .map(|rv| super::rb::ruby_to_s(&rv.value))
        .unwrap_or_else(|| "gitlab_mattermost".into());
    set_local(ctx, &name, None);
    role_note(
        ctx,
        &role,
        &name,
        Origin::Omnibus("default mattermost['sql_data_source']".into()),
    );
    if let Some(rv) = fact(ctx, "postgresql['port']").cloned() {
        ctx.report.add(
            Section::Dropped,
            Some(rv.origin),
            "the bundled PostgreSQL's port; the new server's is database.port (default 5432)",
        );
    }
}

fn set_local(ctx: &mut Ctx, name: &str, socket_dir: Option<String>) {
    let user = account_user(ctx);
    ctx.set_out(&["database", "kind"], Value::String("local".into()));
    ctx.set_out(&["database", "name"], Value::String(name.into()));
    ctx.set_out(&["database", "user"], Value::String(user));
    if let Some(dir) = socket_dir {
        ctx.set_out(&["database", "socket_dir"], Value::String(dir));
    }
}

/// Omnibus connected as `gitlab_mattermost` through pg_ident (`gitlab mattermost
/// gitlab_mattermost`); peer authentication here needs the role to be the service user.
fn role_note(ctx: &mut Ctx, role: &str, name: &str, origin: Origin) {
    let user = account_user(ctx);
    let text = if role == user {
        format!("database.kind = \"local\", database.name = {name:?}, database.user = {user:?}: the unix socket with peer authentication, as Omnibus used")
    } else {
        format!("database.kind = \"local\", database.name = {name:?}, database.user = {user:?}: Omnibus connected as role {role:?}, mapped from the system user {user:?} by pg_ident (map gitlab: {user} -> {role}); peer authentication here needs the role to equal the service user, so the migration guide restores the dump with --no-owner --role={user} and {user:?} owns every object (no pg_ident map to keep)")
    };
    ctx.report.add(Section::Derived, Some(origin), text);
}

fn local_database(ctx: &mut Ctx, d: &Dsn, c: &Candidate, name_rv: Option<RbValue>) {
    let fallback = d
        .dbname
        .clone()
        .unwrap_or_else(|| "mattermost_production".into());
    let name = match name_rv {
        Some(rv) if d.dbname.is_none() => db_name(ctx, Some(rv), &fallback),
        Some(rv) => {
            ctx.report.add(
                Section::Dropped,
                Some(rv.origin),
                "database_name: the DataSource's dbname is what Mattermost used",
            );
            fallback
        }
        None => fallback,
    };
    let socket = d.host.clone().filter(|h| !is_omnibus_path(h));
    if let Some(h) = d.host.as_deref().filter(|h| is_omnibus_path(h)) {
        ctx.report.add(Section::Derived, Some(c.origin.clone()), format!("socket directory {h} is the bundled PostgreSQL's; database.socket_dir stays at its default /run/postgresql"));
    }
    set_local(ctx, &name, socket);
    if d.password.is_some() {
        ctx.report.add(Section::Dropped, Some(c.origin.clone()), "the DataSource's password: peer authentication over the socket uses none (value not copied)");
    }
    if let Some(p) = d.port.filter(|p| *p != 5432) {
        ctx.set_out(&["database", "port"], Value::from(p));
    }
    let role = d.user.clone().unwrap_or_else(|| account_user(ctx));
    role_note(ctx, &role, &name, c.origin.clone());
}

fn external_database(ctx: &mut Ctx, d: &Dsn, c: &Candidate, replicas: Option<&Candidate>) {
    let o = c.origin.clone();
    ctx.set_out(&["database", "kind"], Value::String("external".into()));
    if let Some(h) = &d.host {
        ctx.set_out(&["database", "host"], Value::String(h.clone()));
    }
    ctx.set_out(&["database", "port"], Value::from(d.port.unwrap_or(5432)));
    let name = d
        .dbname
        .clone()
        .unwrap_or_else(|| "mattermost_production".into());
    ctx.set_out(&["database", "name"], Value::String(name.clone()));
    let user = d.user.clone().unwrap_or_else(|| "gitlab_mattermost".into());
    ctx.set_out(&["database", "user"], Value::String(user.clone()));
    // lib/pq, which Mattermost uses, defaults to sslmode=require, as the schema does.
    let sslmode = d.sslmode.clone().unwrap_or_else(|| "require".into());
    ctx.set_out(&["database", "sslmode"], Value::String(sslmode.clone()));
    carried(ctx, o.clone(), format!("SqlSettings.DataSource (secret) -> database.kind = \"external\", host {:?}, port {}, name {name:?}, user {user:?}, sslmode {sslmode:?}", d.host.clone().unwrap_or_default(), d.port.unwrap_or(5432)));
    if !d.other.is_empty() {
        let names: Vec<&str> = d.other.keys().map(String::as_str).collect();
        ctx.report.add(Section::Dropped, Some(o.clone()), format!("DataSource parameters {}: the compiler builds the DSN itself (with connect_timeout=10)", names.join(", ")));
    }
    let how = if d.password.is_some() {
        None
    } else {
        Some("the DataSource had no password; put the role's password there (or leave the file empty if the server needs none)".to_string())
    };
    let path = ctx.secrets.add(Secret {
        file: "database-password".into(),
        what: "the PostgreSQL password of the Mattermost role".into(),
        origin: Some(o),
        value: d.password.clone(),
        how_to_get: how,
    });
    ctx.set_out(&["database", "password_file"], Value::String(path));
    if let Some(rep) = replicas {
        let hosts: Vec<Value> = dsn::replica_hosts(&rep.value)
            .into_iter()
            .map(Value::String)
            .collect();
        if !hosts.is_empty() {
            carried(ctx, rep.origin.clone(), format!("SqlSettings.DataSourceReplicas (secret) -> database.read_replicas {} (same name, user, password and sslmode as the primary)", Value::Array(hosts.clone())));
            ctx.set_out(&["database", "read_replicas"], Value::Array(hosts));
        }
    }
}

// ---- file storage ----

fn file_storage(ctx: &mut Ctx, r: &mut Resolved) {
    let driver = take(r, "FileSettings.DriverName");
    let dir = take(r, "FileSettings.Directory");
    let s3 = driver
        .as_ref()
        .is_some_and(|c| as_str(&c.value) == "amazons3");
    if !s3 {
        if let Some(c) = &driver {
            if as_str(&c.value) != "local" {
                ctx.report.add(
                    Section::Dropped,
                    Some(c.origin.clone()),
                    format!(
                        "FileSettings.DriverName {}: only local and amazons3 exist",
                        c.value
                    ),
                );
            }
        }
        ctx.set_out(&["file_storage", "driver"], Value::String("local".into()));
        place_dir(
            ctx,
            dir,
            "/var/opt/gitlab/mattermost/data",
            "/var/lib/mattermost/data",
            &["file_storage", "directory"],
            true,
        );
        return;
    }
    if let Some(c) = driver {
        carried(
            ctx,
            c.origin,
            "file_storage.driver = \"s3\" (FileSettings.DriverName amazons3)".into(),
        );
    }
    ctx.set_out(&["file_storage", "driver"], Value::String("s3".into()));
    if let Some(c) = dir {
        ctx.report.add(
            Section::Dropped,
            Some(c.origin),
            "FileSettings.Directory: not used with S3 storage",
        );
    }
    carry_s3_fields(ctx, |p| take(r, p).map(|c| (c.value, c.origin)));
    if let Some(c) = take(r, "FileSettings.AmazonS3SecretAccessKey") {
        let p = ctx.secrets.add(Secret {
            file: "s3-secret-access-key".into(),
            what: "the S3 secret access key (FileSettings.AmazonS3SecretAccessKey)".into(),
            origin: Some(c.origin.clone()),
            value: Some(as_str(&c.value)),
            how_to_get: None,
        });
        ctx.set_out(
            &["file_storage", "secret_access_key_file"],
            Value::String(p.clone()),
        );
        carried(
            ctx,
            c.origin,
            format!("file_storage.secret_access_key_file = {p:?} (secret)"),
        );
    }
}

// ---- GitLab sign-in ----

fn gitlab(ctx: &mut Ctx, r: &mut Resolved, site: &url::Url) {
    let gitlab_url = call(ctx, "external_url");
    let enable = take(r, "GitLabSettings.Enable");
    let explicit = enable.as_ref().map(|c| c.value == Value::Bool(true));
    let auto = explicit.is_none()
        && gitlab_url.is_some()
        && ctx.calls.contains_key("mattermost_external_url")
        && !fact_is_false(ctx, "gitlab_rails['enable']")
        && !fact_is_false(ctx, "package['generate_secrets_json_file']")
        && !fact_is_false(ctx, "mattermost['register_as_oauth_app']");
    if explicit != Some(true) && !auto {
        // Disabled: Enable and the other GitLabSettings stay free-form settings.
        if let (Some(c), Some(s)) = (enable, setting("GitLabSettings.Enable")) {
            r.insert(s.env_var.to_string(), c);
        }
        return;
    }
    let origin = match &enable {
        Some(c) => {
            carried(ctx, c.origin.clone(), "gitlab.enable = true".into());
            c.origin.clone()
        }
        None => {
            let o = Origin::Omnibus("automatic OAuth registration".into());
            ctx.report.add(Section::Derived, Some(o.clone()), format!("gitlab.enable = true: Omnibus registered Mattermost with the GitLab at the same host ({}) and kept the application id and secret in /etc/gitlab/gitlab-secrets.json; the redirect URIs stay {}/signup/gitlab/complete and /login/gitlab/complete", gitlab_url.as_ref().map_or("", |g| g.0.as_str()), site.as_str().trim_end_matches('/')));
            o
        }
    };
    ctx.set_out(&["gitlab", "enable"], Value::Bool(true));
    let endpoints =
        gitlab_sso::take_endpoints(|p| take(r, p).map(|c| (as_str(&c.value), c.origin)));
    let base = gitlab_url
        .as_ref()
        .map(|(u, _)| u.trim_end_matches('/').to_string())
        .or_else(|| gitlab_sso::url_from_endpoints(&endpoints));
    match &base {
        Some(b) => {
            ctx.set_out(&["gitlab", "url"], Value::String(b.clone()));
            let o = gitlab_url
                .as_ref()
                .map_or(origin.clone(), |(_, o)| o.clone());
            carried(ctx, o, format!("gitlab.url = {b:?} (GitLab's external_url; the OAuth endpoints derive from it)"));
        }
        None => ctx.report.add(
            Section::Dropped,
            Some(origin.clone()),
            "GitLab sign-in needs GitLab's URL: set gitlab.url by hand",
        ),
    }
    gitlab_sso::carry_endpoints(ctx, base.as_deref(), endpoints);
    gitlab_credentials(ctx, r, &origin);
}

fn gitlab_credentials(ctx: &mut Ctx, r: &mut Resolved, origin: &Origin) {
    let id = take(r, "GitLabSettings.Id").map(|c| (as_str(&c.value), c.origin));
    gitlab_sso::carry_application_id(
        ctx,
        id,
        origin,
        "sudo jq -r .mattermost.gitlab_id /etc/gitlab/gitlab-secrets.json (Omnibus generated and registered it)".into(),
    );
    let secret = take(r, "GitLabSettings.Secret");
    let p = ctx.secrets.add(Secret {
        file: "gitlab-secret".into(),
        what: "the GitLab OAuth application secret (GitLabSettings.Secret)".into(),
        origin: secret.as_ref().map(|c| c.origin.clone()),
        value: secret.as_ref().map(|c| as_str(&c.value)),
        how_to_get: Some("sudo jq -r .mattermost.gitlab_secret /etc/gitlab/gitlab-secrets.json (Omnibus generated and registered it)".into()),
    });
    ctx.set_out(&["gitlab", "secret_file"], Value::String(p.clone()));
    if let Some(c) = secret {
        carried(
            ctx,
            c.origin,
            format!("gitlab.secret_file = {p:?} (secret, see secrets)"),
        );
    }
    match take(r, "GitLabSettings.Scope") {
        Some(c) => {
            let scope = as_str(&c.value);
            ctx.set_out(&["gitlab", "scope"], Value::String(scope.clone()));
            carried(ctx, c.origin, format!("gitlab.scope = {scope:?}"));
        }
        None => {
            ctx.set_out(&["gitlab", "scope"], Value::String(String::new()));
            derived(ctx, "mattermost['gitlab_scope'] = nil", "gitlab.scope = \"\": Omnibus passed an empty scope, which matches the application it registered (no scopes, so GitLab grants `api`); to narrow it, set gitlab.scope = \"read_user\" first, then `gitlab-mattermost gitlab register` creates an application with that scope beside the Omnibus one".into());
        }
    }
}

// ---- SMTP ----

/// The S3 settings that are no secret, each to its key in the `file_storage` section: both
/// importers carry them as they are.
pub(crate) fn carry_s3_fields(
    ctx: &mut Ctx,
    mut take: impl FnMut(&str) -> Option<(Value, Origin)>,
) {
    for (path, key) in [
        ("FileSettings.AmazonS3Bucket", "bucket"),
        ("FileSettings.AmazonS3Endpoint", "endpoint"),
        ("FileSettings.AmazonS3Region", "region"),
        ("FileSettings.AmazonS3AccessKeyId", "access_key_id"),
        ("FileSettings.AmazonS3SSL", "ssl"),
    ] {
        if let Some((value, origin)) = take(path) {
            ctx.set_out(&["file_storage", key], value.clone());
            carried(
                ctx,
                origin,
                format!("file_storage.{key} = {value} ({path})"),
            );
        }
    }
}

/// Lift EmailSettings into `smtp` when they describe a complete mail setup.
fn smtp(ctx: &mut Ctx, r: &mut Resolved) {
    let origin = Origin::Omnibus("EmailSettings".into());
    let setup = match smtp::mail_setup(r) {
        None => return,
        Some(Err(why)) => return smtp::keep_free_form(ctx, origin, &why),
        Some(Ok(setup)) => setup,
    };
    smtp::lift(ctx, r, &setup, &origin);
    let auth = setup.auth;
    let pw = take(r, "EmailSettings.SMTPPassword");
    if pw.is_some() || auth {
        let p = ctx.secrets.add(Secret {
            file: "smtp-password".into(),
            what: "the SMTP password (EmailSettings.SMTPPassword)".into(),
            origin: pw.as_ref().map(|c| c.origin.clone()),
            value: pw.as_ref().map(|c| as_str(&c.value)),
            how_to_get: Some("the password of the SMTP account (it was not in the inputs; Omnibus ≥ 11.0 users set it in the System Console, so import config.json too)".into()),
        });
        ctx.set_out(&["smtp", "password_file"], Value::String(p.clone()));
        if let Some(c) = pw {
            carried(
                ctx,
                c.origin.clone(),
                format!(
                    "smtp.password_file = {p:?} (secret, see secrets){}",
                    via(&c)
                ),
            );
        }
    }
}

// ---- AllowedUntrustedInternalConnections ----

/// With Puma on the same node, Omnibus appended GitLab's host so Mattermost may call it.
fn allowed_untrusted(ctx: &mut Ctx, r: &mut Resolved) {
    let Some((gitlab, _)) = call(ctx, "external_url") else {
        return;
    };
    if fact_is_false(ctx, "gitlab_rails['enable']") || fact_is_false(ctx, "puma['enable']") {
        return;
    }
    let Some(host) = url::Url::parse(&gitlab)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    else {
        return;
    };
    let Some(s) = setting("ServiceSettings.AllowedUntrustedInternalConnections") else {
        return;
    };
    let current = r
        .get(s.env_var)
        .map(|c| as_str(&c.value))
        .unwrap_or_default();
    if current.split_whitespace().any(|h| h == host) {
        return;
    }
    let value = format!("{current} {host}").trim().to_string();
    derived(ctx, "gitlab_mattermost.rb", format!("ServiceSettings.AllowedUntrustedInternalConnections gets GitLab's host {host:?} (Omnibus appended it because Puma ran on this node), so Mattermost may call GitLab on an internal address"));
    let origin = r.get(s.env_var).map_or_else(
        || Origin::Omnibus("derived AllowedUntrustedInternalConnections".into()),
        |c| c.origin.clone(),
    );
    r.insert(
        s.env_var.to_string(),
        Candidate {
            in_store: false,
            value: Value::String(value),
            origin,
            layer: super::bag::Layer::Omnibus,
            implicit: true,
            via: Some("with GitLab's host appended, as Omnibus did".into()),
        },
    );
}

// ---- free-form ----

/// Everything left: `settings.<Category>.<Field>`, or `setting_files` for secrets.
pub fn free_form(ctx: &mut Ctx, mut r: Resolved) {
    if setting("SqlSettings.AtRestEncryptKey").is_some_and(|s| !r.contains_key(s.env_var)) {
        at_rest_key_from_secrets_json(ctx);
    }
    for (env, c) in std::mem::take(&mut r) {
        let Some(s) = Catalogue::get().by_env(&env) else {
            continue;
        };
        let path = s.path();
        if s.is_secret() {
            let file = path.to_ascii_lowercase().replace('.', "-");
            let p = ctx.secrets.add(Secret {
                file,
                what: format!("{path} ({env})"),
                origin: Some(c.origin.clone()),
                value: Some(as_str(&c.value)),
                how_to_get: None,
            });
            ctx.set_out(&["setting_files", &path], Value::String(p.clone()));
            ctx.placed(
                &env,
                vec!["setting_files".into(), path.clone()],
                c.origin.clone(),
            );
            carried(
                ctx,
                c.origin.clone(),
                format!(
                    "setting_files.\"{path}\" = {p:?} (secret, see secrets){}",
                    via(&c)
                ),
            );
            continue;
        }
        let mut keys: Vec<String> = vec!["settings".into(), s.category.to_string()];
        keys.extend(s.field.split('.').map(str::to_string));
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        ctx.set_out(&refs, c.value.clone());
        ctx.placed(&env, keys.clone(), c.origin.clone());
        let text = format!("settings.{path} = {} ({env}){}", show(s, &c.value), via(&c));
        if c.implicit {
            ctx.report
                .add(Section::Derived, Some(c.origin.clone()), text);
        } else {
            carried(ctx, c.origin.clone(), text);
        }
    }
}

/// Omnibus generated SqlSettings.AtRestEncryptKey and passed it from gitlab-secrets.json:
/// data encrypted with it stays readable only with the same key.
fn at_rest_key_from_secrets_json(ctx: &mut Ctx) {
    let p = ctx.secrets.add(Secret {
        file: "sqlsettings-atrestencryptkey".into(),
        what: "SqlSettings.AtRestEncryptKey".into(),
        origin: None,
        value: None,
        how_to_get: Some("sudo jq -r .mattermost.sql_at_rest_encrypt_key /etc/gitlab/gitlab-secrets.json (Omnibus generated it and passed it in the environment, overriding config.json; data encrypted at rest needs the same key)".into()),
    });
    ctx.set_out(
        &["setting_files", "SqlSettings.AtRestEncryptKey"],
        Value::String(p.clone()),
    );
    derived(ctx, "generated sql_at_rest_encrypt_key", format!("setting_files.\"SqlSettings.AtRestEncryptKey\" = {p:?}: the key Omnibus generated (see secrets)"));
}
