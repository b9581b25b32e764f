//! A stand-in for Mattermost's local-mode API on a Unix socket, for `integrations sync`:
//! users, teams and channels by name, incoming webhooks and slash commands. It enforces what
//! Mattermost enforces there: a webhook's channel must exist and stay in the hook's team;
//! a trigger word is unique among a team's commands; a command's token is Mattermost's own
//! (an update cannot change it); deleted objects are gone (404).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{json, Map, Value};

#[derive(Default)]
pub struct State {
    pub users: Vec<(String, String)>,
    /// (name, id)
    pub teams: Vec<(String, String)>,
    /// (team name, channel name, channel id, team id)
    pub channels: Vec<(String, String, String, String)>,
    pub hooks: Vec<Value>,
    pub commands: Vec<Value>,
    next: u64,
    /// Every request as "METHOD path".
    pub log: Vec<String>,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        // Mattermost ids: 26 lowercase letters and digits.
        format!("{prefix}{:0>w$}", self.next, w = 26 - prefix.len())
    }
}

pub struct Mattermost {
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Mattermost {
    pub fn start(socket: &Path) -> Mattermost {
        let listener = UnixListener::bind(socket).expect("the socket binds");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (state.clone(), stop.clone());
        // Polled, so that dropping stops it even when the socket file is gone.
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        serve(&st, c);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Mattermost {
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn user(&self, name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let id = st.id("u");
        st.users.push((name.into(), id.clone()));
        id
    }

    pub fn team(&self, name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let id = st.id("t");
        st.teams.push((name.into(), id.clone()));
        id
    }

    pub fn channel(&self, team: &str, name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let team_id = st
            .teams
            .iter()
            .find(|(n, _)| n == team)
            .map(|(_, id)| id.clone())
            .expect("the team exists");
        let id = st.id("c");
        st.channels
            .push((team.into(), name.into(), id.clone(), team_id));
        id
    }

    /// An incoming webhook made outside `sync` (by hand, on the old server); its id.
    pub fn insert_hook(&self, channel_id: &str, display_name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let team_id = team_of(&st, channel_id).expect("the channel exists");
        let id = st.id("h");
        st.hooks.push(json!({
            "id": id, "channel_id": channel_id, "team_id": team_id,
            "display_name": display_name, "description": "", "user_id": "someone",
            "username": "", "icon_url": "", "channel_locked": false, "delete_at": 0,
        }));
        id
    }

    /// A slash command made outside `sync`; its id and token.
    pub fn insert_command(&self, team_id: &str, trigger: &str, url: &str) -> (String, String) {
        let mut st = self.state.lock().unwrap();
        let id = st.id("k");
        let token = st.id("tok");
        st.commands.push(json!({
            "id": id, "team_id": team_id, "trigger": trigger, "url": url, "method": "P",
            "token": token, "creator_id": "someone", "display_name": "old", "description": "",
            "username": "", "auto_complete": false, "auto_complete_desc": "",
            "auto_complete_hint": "", "delete_at": 0,
        }));
        (id, token)
    }

    pub fn hooks(&self) -> Vec<Value> {
        self.state.lock().unwrap().hooks.clone()
    }

    pub fn commands(&self) -> Vec<Value> {
        self.state.lock().unwrap().commands.clone()
    }

    /// Every request that could change Mattermost (anything but GET).
    pub fn writes(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|l| !l.starts_with("GET "))
            .cloned()
            .collect()
    }
}

impl Drop for Mattermost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn team_of(st: &State, channel_id: &str) -> Option<String> {
    st.channels
        .iter()
        .find(|c| c.2 == channel_id)
        .map(|c| c.3.clone())
}

fn serve(st: &Mutex<State>, conn: UnixStream) {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = route(st, &method, &target, body);
    let mut conn = reader.into_inner();
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n{answer}"
    );
}

fn not_found() -> (u16, Value) {
    (404, json!({"message": "Unable to find the object."}))
}

fn route(st: &Mutex<State>, method: &str, target: &str, body: Value) -> (u16, Value) {
    let mut st = st.lock().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    st.log.push(format!("{method} {path}"));
    let q = |k: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let parts: Vec<&str> = path.trim_start_matches("/api/v4/").split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["users", "username", u]) => match st.users.iter().find(|(n, _)| n == u) {
            Some((_, id)) => (200, json!({"id": id, "username": u})),
            None => not_found(),
        },
        ("GET", ["teams", "name", t]) => match st.teams.iter().find(|(n, _)| n == t) {
            Some((_, id)) => (200, json!({"id": id, "name": t})),
            None => not_found(),
        },
        ("GET", ["teams", "name", t, "channels", "name", c]) => {
            match st.channels.iter().find(|x| x.0 == *t && x.1 == *c) {
                Some(x) => (200, json!({"id": x.2, "name": c, "team_id": x.3})),
                None => not_found(),
            }
        }
        ("GET", ["hooks", "incoming"]) => {
            let page: usize = q("page").parse().unwrap_or(0);
            let per_page: usize = q("per_page").parse().unwrap_or(60);
            let team = q("team_id");
            let all: Vec<Value> = st
                .hooks
                .iter()
                .filter(|h| team.is_empty() || h["team_id"] == team.as_str())
                .skip(page * per_page)
                .take(per_page)
                .cloned()
                .collect();
            (200, Value::Array(all))
        }
        ("POST", ["hooks", "incoming"]) => {
            let channel = body["channel_id"].as_str().unwrap_or_default().to_string();
            let Some(team_id) = team_of(&st, &channel) else {
                return (400, json!({"message": "Invalid channel_id."}));
            };
            let mut hook = as_map(&body);
            let id = st.id("h");
            hook.insert("id".into(), json!(id));
            hook.insert("team_id".into(), json!(team_id));
            hook.insert("delete_at".into(), json!(0));
            let hook = Value::Object(hook);
            st.hooks.push(hook.clone());
            (201, hook)
        }
        (m, ["hooks", "incoming", id]) => {
            let Some(i) = st.hooks.iter().position(|h| h["id"] == *id) else {
                return not_found();
            };
            match m {
                "GET" => (200, st.hooks[i].clone()),
                "DELETE" => {
                    st.hooks.remove(i);
                    (200, json!({"status": "OK"}))
                }
                "PUT" => {
                    let channel = body["channel_id"].as_str().unwrap_or_default();
                    if team_of(&st, channel).as_deref() != st.hooks[i]["team_id"].as_str() {
                        return (
                            400,
                            json!({"message": "The channel is not in the webhook's team."}),
                        );
                    }
                    let mut hook = as_map(&st.hooks[i]);
                    for (k, v) in as_map(&body) {
                        if !matches!(k.as_str(), "id" | "team_id" | "create_at" | "delete_at") {
                            hook.insert(k, v);
                        }
                    }
                    st.hooks[i] = Value::Object(hook);
                    (200, st.hooks[i].clone())
                }
                _ => (405, json!({"message": "method not allowed"})),
            }
        }
        ("GET", ["commands"]) => {
            let team = q("team_id");
            if team.is_empty() {
                return (400, json!({"message": "team_id is required"}));
            }
            let all: Vec<Value> = st
                .commands
                .iter()
                .filter(|c| c["team_id"] == team.as_str())
                .cloned()
                .collect();
            (200, Value::Array(all))
        }
        ("POST", ["commands"]) => {
            let team = body["team_id"].as_str().unwrap_or_default().to_string();
            let trigger = body["trigger"].as_str().unwrap_or_default().to_string();
            if duplicate(&st, &team, &trigger, "") {
                return (
                    400,
                    json!({"message": "This trigger word is already in use. Please choose another word."}),
                );
            }
            let mut cmd = as_map(&body);
            let (id, token) = (st.id("k"), st.id("tok"));
            cmd.insert("id".into(), json!(id));
            cmd.insert("token".into(), json!(token));
            cmd.insert("delete_at".into(), json!(0));
            let cmd = Value::Object(cmd);
            st.commands.push(cmd.clone());
            (201, cmd)
        }
        (m, ["commands", id]) => {
            let Some(i) = st.commands.iter().position(|c| c["id"] == *id) else {
                return not_found();
            };
            match m {
                "GET" => (200, st.commands[i].clone()),
                "DELETE" => {
                    st.commands.remove(i);
                    (200, json!({"status": "OK"}))
                }
                "PUT" => {
                    let team = st.commands[i]["team_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let trigger = body["trigger"].as_str().unwrap_or_default();
                    if duplicate(&st, &team, trigger, id) {
                        return (
                            400,
                            json!({"message": "This trigger word is already in use."}),
                        );
                    }
                    let mut cmd = as_map(&st.commands[i]);
                    for (k, v) in as_map(&body) {
                        if !matches!(k.as_str(), "id" | "team_id" | "token" | "delete_at") {
                            cmd.insert(k, v);
                        }
                    }
                    st.commands[i] = Value::Object(cmd);
                    (200, st.commands[i].clone())
                }
                _ => (405, json!({"message": "method not allowed"})),
            }
        }
        _ => not_found(),
    }
}

fn duplicate(st: &State, team: &str, trigger: &str, except: &str) -> bool {
    st.commands
        .iter()
        .any(|c| c["team_id"] == team && c["trigger"] == trigger && c["id"] != except)
}

fn as_map(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}
