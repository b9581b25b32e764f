//! `status` (Omnibus: `gitlab-ctl status`): one line each for the unit's state, the Mattermost
//! release, the ping answered directly and through nginx, and the database. The probes are
//! doctor's ([`crate::doctor::service`], the database check), run in parallel, each within
//! `--timeout`.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::args::{CheckName, DoctorArgs, StatusArgs};
use crate::doctor::service::{self, Pong, UnitState};
use crate::doctor::{self, Ctx};
use crate::validate::Plan;
use crate::{http, tls, users};

/// How one line came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    Fail,
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: &'static str,
    pub status: State,
    pub summary: String,
    /// For a failure: what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Line {
    fn ok(name: &'static str, summary: impl Into<String>) -> Line {
        Line {
            name,
            status: State::Ok,
            summary: summary.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Line {
        Line {
            name,
            status: State::Fail,
            summary: summary.into(),
            fix: Some(fix.into()).filter(|f: &String| !f.is_empty()),
        }
    }
}

/// Everything `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub lines: Vec<Line>,
    /// The unit's state as systemd reported it, when it could be asked.
    pub unit: Option<UnitState>,
    /// The Mattermost release that answered (or, when none did, the installed binary's).
    pub version: Option<String>,
}

/// Run the probes and print the report: exit 0 when every line is fine, 1 when one is not.
pub fn run(plan: &Plan, args: &StatusArgs) -> Result<ExitCode> {
    let report = probe(plan, args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every probe, at once.
pub fn probe(plan: &Plan, args: &StatusArgs) -> Result<Report> {
    let roots = tls::trusted_roots(args.net.ca_file.as_deref())?;
    let timeout = args.net.timeout();
    let doctor_args = DoctorArgs {
        config: args.config.clone(),
        send_to: None,
        json: false,
        only: vec![CheckName::Database],
        token_file: None,
        // Peer authentication: as root, the database check reruns as the service user.
        as_user: users::effective_uid() == 0,
        net: args.net.clone(),
    };
    let ctx = Ctx {
        plan,
        args: &doctor_args,
        roots,
        timeout,
    };
    let agent = http::agent(&ctx.roots, timeout);
    let direct_base = service::direct_url(plan);
    let nginx_base = service::nginx_url(plan);
    let (unit, direct, nginx, database) = std::thread::scope(|s| {
        let unit = s.spawn(|| service::unit_state(timeout));
        let direct = s.spawn(|| service::ping(&agent, &direct_base, timeout));
        let nginx = s.spawn(|| service::ping(&agent, &nginx_base, timeout));
        let database = doctor::run_all(&ctx, &[CheckName::Database], false);
        (
            unit.join()
                .unwrap_or_else(|_| Err("cannot ask systemd: the probe crashed".into())),
            direct
                .join()
                .unwrap_or_else(|_| Err("the probe crashed".into())),
            nginx
                .join()
                .unwrap_or_else(|_| Err("the probe crashed".into())),
            database,
        )
    });

    let mut lines = Vec::new();
    lines.push(match &unit {
        Ok(u) if u.is_active() => Line::ok("unit", u.describe()),
        Ok(u) => Line::fail("unit", u.describe(), u.fix()),
        Err(e) => Line::fail(
            "unit",
            e.clone(),
            format!(
                "run status on the host that runs {}, with systemd running",
                service::UNIT
            ),
        ),
    });
    let (version, version_line) = version(plan, &direct, &nginx);
    lines.push(version_line);
    lines.push(ping_line("direct", &direct, service::direct_fix(plan)));
    lines.push(ping_line("nginx", &nginx, service::nginx_fix(plan)));
    lines.push(match database.into_iter().next() {
        Some(o) => match o.status {
            doctor::Status::Pass => Line::ok("database", o.summary),
            doctor::Status::Skipped => Line {
                name: "database",
                status: State::Skipped,
                summary: o.summary,
                fix: None,
            },
            doctor::Status::Fail => {
                let fix = o
                    .problems
                    .iter()
                    .map(|p| p.fix.as_str())
                    .filter(|f| !f.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                Line::fail("database", o.summary, fix)
            }
        },
        None => Line::fail("database", "the database check did not run", ""),
    });
    let ok = lines.iter().all(|l| l.status != State::Fail);
    Ok(Report {
        ok,
        lines,
        unit: unit.ok(),
        version,
    })
}

fn ping_line(name: &'static str, result: &Result<Pong, String>, fix: String) -> Line {
    match result {
        Ok(p) => Line::ok(name, format!("{} answered OK", p.url)),
        Err(e) => Line::fail(name, e.clone(), fix),
    }
}

/// The release that answered the ping (its `X-Version-Id`); when none did, what
/// `<install_dir>/bin/mattermost version` reports, as `apply` records it.
fn version(
    plan: &Plan,
    direct: &Result<Pong, String>,
    nginx: &Result<Pong, String>,
) -> (Option<String>, Line) {
    let answered = [direct, nginx]
        .into_iter()
        .filter_map(|r| r.as_ref().ok())
        .find_map(|p| p.version.clone());
    if let Some(v) = answered {
        let line = Line::ok(
            "version",
            format!(
                "Mattermost {v} answers (mattermost.version {})",
                plan.config.mattermost.version
            ),
        );
        return (Some(v), line);
    }
    let binary = plan.config.mattermost.server_binary();
    if !std::path::Path::new(&binary).exists() {
        return (
            None,
            Line::fail(
                "version",
                format!("no Mattermost answered and {binary} does not exist"),
                "install the release mattermost.install_dir names (docs/getting-started.md)",
            ),
        );
    }
    let key = gitlab_mattermost_backup::upgrade::release_key(
        plan,
        &gitlab_mattermost_backup::paths::Root::host(),
    );
    match key.split(' ').nth(3).filter(|r| *r != "?") {
        Some(v) => (
            Some(v.to_string()),
            Line::ok(
                "version",
                format!("Mattermost {v} installed in {binary} (not answering)"),
            ),
        ),
        None => (
            None,
            Line::fail(
                "version",
                format!("no Mattermost answered and `{binary} version` reported no release"),
                format!("run `{binary} version` to see why"),
            ),
        ),
    }
}

fn marker(s: State) -> &'static str {
    match s {
        State::Ok => "OK  ",
        State::Fail => "FAIL",
        State::Skipped => "--  ",
    }
}

/// One line each; a failure's fix on the line below it; a last line with the count.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    for l in &report.lines {
        s.push_str(&format!(
            "{} {:<9} {}\n",
            marker(l.status),
            l.name,
            l.summary
        ));
        if let Some(fix) = &l.fix {
            s.push_str(&format!("     {:<9} fix: {fix}\n", ""));
        }
    }
    let down: Vec<&str> = report
        .lines
        .iter()
        .filter(|l| l.status == State::Fail)
        .map(|l| l.name)
        .collect();
    if down.is_empty() {
        s.push_str("status: everything is up\n");
    } else {
        s.push_str(&format!("status: down: {}\n", down.join(", ")));
    }
    s
}
