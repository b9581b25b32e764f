//! The service checks, shared with `status`: the unit's state as systemd reports it, and
//! Mattermost's `/api/v4/system/ping` answered directly on its listen address and through
//! nginx at the external URL.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Ctx, Outcome, Steps};
use crate::http;
use crate::validate::Plan;

/// The unit every rendering installs.
pub const UNIT: &str = crate::logs::UNIT;

/// What `systemctl show` says of the unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitState {
    pub unit: &'static str,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// 0 when no process runs.
    pub main_pid: u32,
    /// When the unit last became active (systemd's wording), empty when never.
    pub since: String,
}

impl UnitState {
    pub fn is_active(&self) -> bool {
        self.active_state == "active"
    }

    /// `mattermost.service active (running), pid 4242, since …`.
    pub fn describe(&self) -> String {
        if self.load_state == "not-found" {
            return format!("{} is not installed", self.unit);
        }
        let mut s = format!("{} {} ({})", self.unit, self.active_state, self.sub_state);
        if self.main_pid != 0 {
            s.push_str(&format!(", pid {}", self.main_pid));
        }
        if self.is_active() && !self.since.is_empty() {
            s.push_str(&format!(", since {}", self.since));
        }
        s
    }

    /// What to do when the unit is not active.
    pub fn fix(&self) -> String {
        if self.load_state == "not-found" {
            "install it: `gitlab-mattermost apply`".into()
        } else {
            format!(
                "start it: `systemctl start {}`; `gitlab-mattermost logs` shows why it stopped",
                self.unit
            )
        }
    }
}

/// Ask systemd for the unit's state, within `timeout`. The error reads `cannot ask systemd: …`.
pub fn unit_state(timeout: Duration) -> Result<UnitState, String> {
    let out = run_bounded(
        Command::new("systemctl").args([
            "show",
            UNIT,
            "-p",
            "LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp",
        ]),
        timeout,
    )
    .map_err(|e| format!("cannot ask systemd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("systemctl show failed without a message");
        return Err(format!("cannot ask systemd: {line}"));
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let active_state = field("ActiveState");
    if active_state.is_empty() {
        return Err(format!(
            "cannot ask systemd: `systemctl show {UNIT}` gave no ActiveState"
        ));
    }
    Ok(UnitState {
        unit: UNIT,
        load_state: field("LoadState"),
        active_state,
        sub_state: field("SubState"),
        main_pid: field("MainPID").parse().unwrap_or(0),
        since: field("ActiveEnterTimestamp"),
    })
}

/// Run a command with its output captured, killed when it outlasts `timeout`.
fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<std::process::Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "systemctl did not answer within {}s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for systemctl: {e}")),
        }
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.by_ref().take(1 << 20).read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.by_ref().take(1 << 20).read_to_end(&mut stderr);
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Mattermost's own address: `listen.address` and `listen.port`, a wildcard address asked
/// on loopback.
pub fn direct_url(plan: &Plan) -> String {
    let address = plan.config.listen.address.trim();
    let host = match address {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        a if a.contains(':') && !a.starts_with('[') => format!("[{a}]"),
        a => a.to_string(),
    };
    format!("http://{host}:{}", plan.config.listen.port)
}

/// The URL nginx serves (`external_url`).
pub fn nginx_url(plan: &Plan) -> String {
    plan.site.url.trim_end_matches('/').to_string()
}

/// A ping Mattermost answered.
#[derive(Debug, Clone, Serialize)]
pub struct Pong {
    pub url: String,
    /// The release in the answer's `X-Version-Id` (`11.4.0`), when it has one.
    pub version: Option<String>,
}

/// `GET <base>/api/v4/system/ping`: Mattermost answers 200 with `"status": "OK"`.
pub fn ping(agent: &ureq::Agent, base: &str, timeout: Duration) -> Result<Pong, String> {
    let url = format!("{}/api/v4/system/ping", base.trim_end_matches('/'));
    let resp = agent
        .get(&url)
        .call()
        .map_err(|e| http::describe_transport(&e, &url, timeout))?;
    let version = resp
        .headers()
        .get("x-version-id")
        .and_then(|v| v.to_str().ok())
        .and_then(release_of_version_id);
    let a = http::answer(resp).map_err(|e| http::describe_transport(&e, &url, timeout))?;
    let status = a
        .json()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string));
    match (a.status, status.as_deref()) {
        (200, Some("OK")) => Ok(Pong { url, version }),
        (s @ 300..=399, _) => Err(format!(
            "{url} answered HTTP {s} (a redirect to {})",
            a.location.as_deref().unwrap_or("nowhere")
        )),
        (s, _) => Err(format!("{url} answered HTTP {s}: {}", a.excerpt())),
    }
}

/// `11.4.0.12345.abcdef.false` (Mattermost's `X-Version-Id`) → `11.4.0`.
pub fn release_of_version_id(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.trim().split('.').take(3).collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    numeric.then(|| parts.join("."))
}

/// Fixes for a ping that failed.
pub fn direct_fix(plan: &Plan) -> String {
    format!(
        "check that Mattermost runs (`systemctl status {UNIT}`, `gitlab-mattermost logs`) and listens on {}:{} (listen.address, listen.port)",
        plan.config.listen.address, plan.config.listen.port
    )
}

pub fn nginx_fix(plan: &Plan) -> String {
    format!(
        "check that nginx runs with the rendered site (`nginx -t`, `systemctl status nginx`) and that {} reaches this host",
        plan.site.host
    )
}

/// doctor's service check: the unit is active.
pub fn check_unit(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    steps.doing(&format!("asking systemd about {UNIT}"));
    match unit_state(ctx.timeout) {
        Ok(u) if u.is_active() => Outcome::pass(u.describe()),
        Ok(u) => Outcome::fail(u.describe(), u.fix()),
        Err(e) => Outcome::fail(
            e,
            format!("run doctor on the host that runs {UNIT}, with systemd running"),
        ),
    }
}

/// doctor's ping check: Mattermost answers directly and through nginx.
pub fn check_ping(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let agent = http::agent(&ctx.roots, ctx.timeout);
    let plan = ctx.plan;
    let mut problems = Vec::new();
    let mut facts = Vec::new();
    let mut version = None;
    for (base, how, fix) in [
        (direct_url(plan), "directly", direct_fix(plan)),
        (nginx_url(plan), "through nginx", nginx_fix(plan)),
    ] {
        steps.doing(&format!("pinging {base}"));
        match ping(&agent, &base, ctx.timeout) {
            Ok(p) => {
                steps.done(format!("{} answered OK", p.url));
                facts.push(format!("answers {how} at {base}"));
                version = version.or(p.version);
            }
            Err(e) => problems.push((e, fix)),
        }
    }
    if !problems.is_empty() {
        return Outcome::failures(problems);
    }
    let mut summary = facts.join(" and ");
    if let Some(v) = version {
        summary.push_str(&format!(" (Mattermost {v})"));
    }
    Outcome::pass(summary)
}

#[cfg(test)]
mod tests {
    use super::release_of_version_id;

    #[test]
    fn the_release_is_read_from_x_version_id() {
        assert_eq!(
            release_of_version_id("11.4.0.17577345183.a7d8e.false").as_deref(),
            Some("11.4.0")
        );
        assert_eq!(
            release_of_version_id("10.11.2..x.true").as_deref(),
            Some("10.11.2")
        );
        assert_eq!(release_of_version_id("dev"), None);
        assert_eq!(release_of_version_id("11.x.0"), None);
    }
}
