//! A stub of GitLab's Applications API and OAuth endpoints, enforcing what the real API
//! enforces (`lib/api/applications.rb`, Doorkeeper's validations): an administrator's token
//! on every call; `name`, `redirect_uri` and non-blank `scopes` on create, each scope one
//! GitLab knows and each redirect URI absolute without a fragment; `secret` only in the
//! create and renew answers; integer ids, 404 for unknown ones; no update endpoint (405).
//! Each application has its own secret, checked by the token endpoint: renewing replaces
//! it, so an old secret stops authenticating. Like GitLab, it accepts duplicate
//! applications, and an application inserted directly (as Omnibus did through Rails) may
//! have no scopes.
//!
//! Projects and their Mattermost integrations (`lib/api/integrations.rb`): a project by id or
//! URL-encoded path; an integration answers 404 until set up, never shows its webhook URL or
//! token, needs `webhook` (`mattermost`) or `token` (`mattermost-slash-commands`) on every
//! PUT, is active after one, and a DELETE keeps it, inactive and emptied.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{json, Value};
use tiny_http::{Header, Method, Response, Server};

pub const ADMIN_TOKEN: &str = "glpat-admin-token-0001";
pub const USER_TOKEN: &str = "glpat-user-token-00002";

#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub uid: String,
    pub secret: String,
    pub name: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub confidential: bool,
}

/// A project's integration as GitLab stores it.
#[derive(Debug, Clone, Default)]
pub struct Integration {
    pub active: bool,
    /// The webhook URL or the command token: never shown by the API.
    pub secret: Option<String>,
    /// Event flags and properties, as last set.
    pub fields: serde_json::Map<String, Value>,
}

#[derive(Default)]
pub struct State {
    pub apps: Vec<App>,
    /// (id, path)
    pub projects: Vec<(u64, String)>,
    /// (project id, slug) to the integration.
    pub integrations: std::collections::BTreeMap<(u64, String), Integration>,
    next: u64,
    /// Every request as "METHOD path".
    pub log: Vec<String>,
}

pub struct Stub {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    /// `renew`: whether `POST /applications/:id/renew-secret` exists (GitLab 16.11+).
    pub fn start(renew: bool) -> Stub {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("stub binds"));
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let state = Arc::new(Mutex::new(State::default()));
        let (s, st) = (server.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let (status, answer, location) = handle(&st, &req, &body, renew);
                let mut resp = Response::from_string(answer.to_string()).with_status_code(status);
                resp.add_header(Header::from_bytes("Content-Type", "application/json").unwrap());
                if let Some(l) = location {
                    resp.add_header(Header::from_bytes("Location", l).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Stub {
            url: format!("http://127.0.0.1:{port}"),
            state,
            server,
            thread: Some(thread),
        }
    }

    pub fn apps(&self) -> Vec<App> {
        self.state.lock().unwrap().apps.clone()
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Add an application directly, as an administrator would in the UI (or Omnibus through
    /// Rails, with empty `scopes`).
    pub fn insert(&self, redirect_uri: &str, scopes: &str) -> App {
        self.insert_named("GitLab Mattermost", redirect_uri, scopes)
    }

    pub fn insert_named(&self, name: &str, redirect_uri: &str, scopes: &str) -> App {
        let mut st = self.state.lock().unwrap();
        new_app(&mut st, name, redirect_uri, scopes, true)
    }

    pub fn add_project(&self, path: &str) -> u64 {
        let mut st = self.state.lock().unwrap();
        let id = 100 + st.projects.len() as u64;
        st.projects.push((id, path.into()));
        id
    }

    /// An integration set up outside `sync` (on the Omnibus server, in GitLab's UI).
    pub fn set_integration(&self, project: u64, slug: &str, secret: &str, fields: Value) {
        let mut st = self.state.lock().unwrap();
        st.integrations.insert(
            (project, slug.into()),
            Integration {
                active: true,
                secret: Some(secret.into()),
                fields: fields.as_object().cloned().unwrap_or_default(),
            },
        );
    }

    /// What GitLab holds, secret included (the API never shows it).
    pub fn integration(&self, project: u64, slug: &str) -> Option<Integration> {
        let st = self.state.lock().unwrap();
        st.integrations.get(&(project, slug.to_string())).cloned()
    }

    /// Whether the token endpoint authenticates `uid` with `secret` now.
    pub fn accepts(&self, uid: &str, secret: &str) -> bool {
        client_ok(&self.state.lock().unwrap(), uid, secret)
    }

    /// Every request that could change GitLab (anything but GET).
    pub fn writes(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| !l.starts_with("GET "))
            .collect()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn new_app(st: &mut State, name: &str, redirect: &str, scopes: &str, confidential: bool) -> App {
    st.next += 1;
    let app = App {
        id: st.next,
        uid: format!("uid{:040x}", st.next * 7919),
        secret: fresh_secret(st.next),
        name: name.into(),
        redirect_uri: redirect.into(),
        scopes: scopes.into(),
        confidential,
    };
    st.apps.push(app.clone());
    app
}

/// A recognisable canary: tests assert it never shows in any output.
fn fresh_secret(n: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("gloas-CANARY{n:04}{nanos:09}")
}

fn listed(a: &App) -> Value {
    json!({
        "id": a.id,
        "application_id": a.uid,
        "application_name": a.name,
        "callback_url": a.redirect_uri,
        "confidential": a.confidential,
        "scopes": a.scopes.split_whitespace().collect::<Vec<_>>(),
    })
}

fn with_secret(a: &App) -> Value {
    let mut v = listed(a);
    v["secret"] = json!(a.secret);
    v
}

fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

type Answer = (u16, Value, Option<String>);

fn handle(st: &Mutex<State>, req: &tiny_http::Request, body: &str, renew: bool) -> Answer {
    let method = req.method().clone();
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    st.lock().unwrap().log.push(format!("{method} {path}"));
    match path.as_str() {
        "/oauth/authorize" => (302, json!({}), Some("/users/sign_in".into())),
        "/oauth/token" => token(st, body),
        "/api/v4/user" => (401, json!({"message": "401 Unauthorized"}), None),
        p if p.starts_with("/api/v4/projects/") => match header(req, "PRIVATE-TOKEN").as_deref() {
            Some(ADMIN_TOKEN) => projects(st, &method, p, body),
            Some(USER_TOKEN) => (403, json!({"message": "403 Forbidden"}), None),
            _ => (401, json!({"message": "401 Unauthorized"}), None),
        },
        p if p.starts_with("/api/v4/applications") => {
            let token = header(req, "PRIVATE-TOKEN").or_else(|| {
                header(req, "Authorization")
                    .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
            });
            match token.as_deref() {
                Some(ADMIN_TOKEN) => applications(st, &method, p, body, renew),
                Some(USER_TOKEN) => (403, json!({"message": "403 Forbidden"}), None),
                _ => (401, json!({"message": "401 Unauthorized"}), None),
            }
        }
        _ => (404, json!({"error": "404 Not Found"}), None),
    }
}

fn token(st: &Mutex<State>, body: &str) -> Answer {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let known = client_ok(
        &st.lock().unwrap(),
        &get("client_id"),
        &get("client_secret"),
    );
    if known {
        (
            400,
            json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid"}),
            None,
        )
    } else {
        (
            401,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            None,
        )
    }
}

/// Doorkeeper's client authentication: the application's current secret only.
fn client_ok(st: &State, uid: &str, secret: &str) -> bool {
    st.apps.iter().any(|a| a.uid == uid && a.secret == secret)
}

/// The scopes GitLab's Doorkeeper is configured with (`Gitlab::Auth`); others are refused.
const KNOWN_SCOPES: &[&str] = &[
    "api",
    "read_api",
    "read_user",
    "create_runner",
    "manage_runner",
    "k8s_proxy",
    "read_repository",
    "write_repository",
    "read_registry",
    "write_registry",
    "sudo",
    "admin_mode",
    "read_service_ping",
    "openid",
    "profile",
    "email",
    "ai_features",
];

/// Doorkeeper's validation errors for a new application, as GitLab renders them.
fn invalid(scopes: &str, redirect: &str) -> Option<Value> {
    if scopes
        .split_whitespace()
        .any(|s| !KNOWN_SCOPES.contains(&s))
    {
        return Some(json!({"message": {"scopes": ["doesn't match configured on the server."]}}));
    }
    for uri in redirect.split_whitespace() {
        match url::Url::parse(uri) {
            Ok(u) if u.fragment().is_some() => {
                return Some(json!({"message": {"redirect_uri": ["cannot contain a fragment."]}}))
            }
            Ok(_) => {}
            Err(_) => {
                return Some(json!({"message": {"redirect_uri": ["must be an absolute URI."]}}))
            }
        }
    }
    None
}

fn applications(st: &Mutex<State>, method: &Method, path: &str, body: &str, renew: bool) -> Answer {
    let mut st = st.lock().unwrap();
    let rest = path
        .trim_start_matches("/api/v4/applications")
        .trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (Method::Get, []) => (
            200,
            Value::Array(st.apps.iter().map(listed).collect()),
            None,
        ),
        (Method::Post, []) => {
            let v: Value = serde_json::from_str(body).unwrap_or(json!({}));
            let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let missing: Vec<&str> = ["name", "redirect_uri", "scopes"]
                .into_iter()
                .filter(|k| field(k).is_none())
                .collect();
            if !missing.is_empty() {
                let msg = missing
                    .iter()
                    .map(|k| format!("{k} is missing"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return (400, json!({"error": msg}), None);
            }
            if field("scopes").unwrap_or_default().trim().is_empty() {
                return (400, json!({"error": "scopes is empty"}), None);
            }
            let (scopes, redirect) = (
                field("scopes").unwrap_or_default(),
                field("redirect_uri").unwrap_or_default(),
            );
            if redirect.trim().is_empty() {
                return (400, json!({"error": "redirect_uri is empty"}), None);
            }
            if let Some(e) = invalid(&scopes, &redirect) {
                return (400, e, None);
            }
            let confidential = v
                .get("confidential")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let app = new_app(
                &mut st,
                &field("name").unwrap_or_default(),
                &field("redirect_uri").unwrap_or_default(),
                &field("scopes").unwrap_or_default(),
                confidential,
            );
            (201, with_secret(&app), None)
        }
        // `requires :id, type: Integer`
        (Method::Delete, [id]) if id.parse::<u64>().is_err() => {
            (400, json!({"error": "id is invalid"}), None)
        }
        (Method::Post, [id, "renew-secret"]) if renew && id.parse::<u64>().is_err() => {
            (400, json!({"error": "id is invalid"}), None)
        }
        // GitLab has no update endpoint: the route exists for DELETE only.
        (Method::Put | Method::Patch, [_]) => {
            (405, json!({"message": "405 Method Not Allowed"}), None)
        }
        (Method::Delete, [id]) => {
            let before = st.apps.len();
            st.apps.retain(|a| a.id.to_string() != *id);
            if st.apps.len() < before {
                (204, json!(null), None)
            } else {
                (404, json!({"message": "404 Application Not Found"}), None)
            }
        }
        (Method::Post, [id, "renew-secret"]) if renew => {
            let n = st.next + 100;
            match st.apps.iter_mut().find(|a| a.id.to_string() == *id) {
                Some(a) => {
                    a.secret = fresh_secret(n);
                    let a = a.clone();
                    (201, with_secret(&a), None)
                }
                None => (404, json!({"message": "404 Application Not Found"}), None),
            }
        }
        _ => (404, json!({"error": "404 Not Found"}), None),
    }
}

/// `%2F` and the like in a path segment.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn shown(slug: &str, i: &Integration) -> Value {
    let mut top = serde_json::Map::new();
    let mut props = serde_json::Map::new();
    for (k, v) in &i.fields {
        if k.ends_with("_events") {
            top.insert(k.clone(), v.clone());
        } else {
            props.insert(k.clone(), v.clone());
        }
    }
    top.insert("slug".into(), json!(slug));
    top.insert("active".into(), json!(i.active));
    top.insert("properties".into(), Value::Object(props));
    Value::Object(top)
}

fn projects(st: &Mutex<State>, method: &Method, path: &str, body: &str) -> Answer {
    let mut st = st.lock().unwrap();
    let rest = path.trim_start_matches("/api/v4/projects/");
    let parts: Vec<&str> = rest.split('/').collect();
    let wanted = percent_decode(parts[0]);
    let Some((id, full)) = st
        .projects
        .iter()
        .find(|(id, p)| id.to_string() == wanted || *p == wanted)
        .cloned()
    else {
        return (404, json!({"message": "404 Project Not Found"}), None);
    };
    match (method, &parts[1..]) {
        (Method::Get, []) => (200, json!({"id": id, "path_with_namespace": full}), None),
        (m, ["integrations", slug @ ("mattermost" | "mattermost-slash-commands")]) => {
            let key = (id, slug.to_string());
            let secret_field = if *slug == "mattermost" {
                "webhook"
            } else {
                "token"
            };
            match m {
                Method::Get => match st.integrations.get(&key) {
                    Some(i) => (200, shown(slug, i), None),
                    None => (404, json!({"message": "404 Integration Not Found"}), None),
                },
                Method::Put => {
                    let v: Value = serde_json::from_str(body).unwrap_or(json!({}));
                    let Some(secret) = v.get(secret_field).and_then(Value::as_str) else {
                        return (
                            400,
                            json!({"error": format!("{secret_field} is missing")}),
                            None,
                        );
                    };
                    if secret.trim().is_empty() {
                        return (
                            400,
                            json!({"error": format!("{secret_field} is empty")}),
                            None,
                        );
                    }
                    if secret_field == "webhook"
                        && !url::Url::parse(secret)
                            .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                    {
                        return (
                            400,
                            json!({"message": {"webhook": ["is blocked: Only allowed schemes are http, https"]}}),
                            None,
                        );
                    }
                    let i = st.integrations.entry(key).or_default();
                    i.active = true;
                    i.secret = Some(secret.to_string());
                    for (k, val) in v.as_object().into_iter().flatten() {
                        if k != secret_field {
                            i.fields.insert(k.clone(), val.clone());
                        }
                    }
                    let answer = shown(slug, i);
                    (200, answer, None)
                }
                Method::Delete => match st.integrations.get_mut(&key) {
                    Some(i) => {
                        i.active = false;
                        i.secret = None;
                        i.fields.clear();
                        (204, json!(null), None)
                    }
                    None => (404, json!({"message": "404 Integration Not Found"}), None),
                },
                _ => (405, json!({"message": "405 Method Not Allowed"}), None),
            }
        }
        _ => (404, json!({"error": "404 Not Found"}), None),
    }
}
