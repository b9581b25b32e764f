//! `doctor`: every outside dependency of the service, and the service itself (its unit is
//! active, it answers directly and through nginx), checked in parallel, then one table (or
//! JSON) with what failed and how to fix it.
//!
//! Each check is a function from a [`Ctx`] to an [`Outcome`]. Checks report progress
//! through [`Steps`], which also keeps what succeeded for the details. Nothing a check
//! prints or records may contain a secret: they only ever name the files secrets live in.

mod certs;
mod database;
mod host;
mod oauth;
pub mod secrets;
pub mod service;
mod smtp;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use rustls::pki_types::CertificateDer;
use serde::Serialize;

use super::args::{CheckName, DoctorArgs};
use super::tls;
use crate::validate::Plan;

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skipped,
}

/// One thing wrong, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub problem: String,
    pub fix: String,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub check: &'static str,
    pub status: Status,
    /// One line: what was found (for a failure, the problems joined).
    pub summary: String,
    /// For a failure: each problem with its fix.
    pub problems: Vec<Problem>,
    /// What was done, in order.
    pub steps: Vec<String>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Outcome {
        Outcome::new(Status::Pass, summary.into(), Vec::new())
    }

    pub fn fail(problem: impl Into<String>, fix: impl Into<String>) -> Outcome {
        Outcome::failures(vec![(problem.into(), fix.into())])
    }

    /// A failure with several problems (`(problem, fix)` pairs, at least one).
    pub fn failures(list: Vec<(String, String)>) -> Outcome {
        let summary = list
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let problems = list
            .into_iter()
            .map(|(problem, fix)| Problem { problem, fix })
            .collect();
        Outcome::new(Status::Fail, summary, problems)
    }

    pub fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skipped, reason.into(), Vec::new())
    }

    fn new(status: Status, summary: String, problems: Vec<Problem>) -> Outcome {
        Outcome {
            check: "",
            status,
            summary,
            problems,
            steps: Vec::new(),
        }
    }
}

/// Everything a check may use.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub args: &'a DoctorArgs,
    /// CAs to trust (system store plus --ca-file).
    pub roots: Vec<CertificateDer<'static>>,
    pub timeout: Duration,
}

/// A check's progress: shown live on a terminal, kept for the report.
pub struct Steps {
    bar: Option<indicatif::ProgressBar>,
    done: Vec<String>,
}

impl Steps {
    /// Announce what the check is doing now.
    pub fn doing(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    /// Record something that succeeded.
    pub fn done(&mut self, what: impl Into<String>) {
        let what = what.into();
        tracing::debug!("{what}");
        self.doing(&what);
        self.done.push(what);
    }
}

type CheckFn = fn(&Ctx, &mut Steps) -> Outcome;

fn check_fn(name: CheckName) -> CheckFn {
    match name {
        CheckName::Smtp => smtp::check,
        CheckName::Certificates => certs::check,
        CheckName::Oauth => oauth::check,
        CheckName::Database => database::check,
        CheckName::Secrets => secrets::check,
        CheckName::Host => host::check,
        CheckName::Service => service::check_unit,
        CheckName::Ping => service::check_ping,
    }
}

/// Run the checks and print the report; exit 0 only when none failed.
pub fn run(plan: &Plan, args: &DoctorArgs) -> Result<ExitCode> {
    let roots = tls::trusted_roots(args.net.ca_file.as_deref())?;
    let ctx = Ctx {
        plan,
        args,
        roots,
        timeout: args.net.timeout(),
    };
    let names: Vec<CheckName> = if args.only.is_empty() {
        CheckName::ALL.to_vec()
    } else {
        let mut v = args.only.clone();
        v.sort();
        v.dedup();
        v
    };
    let live = !args.json && std::io::stderr().is_terminal();
    let outcomes = run_all(&ctx, &names, live);
    if args.json {
        println!("{}", json_report(&outcomes));
    } else {
        print!("{}", table(&outcomes));
    }
    let failed = outcomes.iter().any(|o| o.status == Status::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One thread per check: they mostly wait on the network.
pub fn run_all(ctx: &Ctx, names: &[CheckName], live: bool) -> Vec<Outcome> {
    let multi = live.then(indicatif::MultiProgress::new);
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|&name| {
                let bar = multi.as_ref().map(|m| spinner(m, name));
                scope.spawn(move || {
                    let mut steps = Steps {
                        bar: bar.clone(),
                        done: Vec::new(),
                    };
                    let mut outcome = check_fn(name)(ctx, &mut steps);
                    outcome.check = name.as_str();
                    outcome.steps = std::mem::take(&mut steps.done);
                    if let Some(b) = bar {
                        b.finish_with_message(format!(
                            "{} {}",
                            mark(outcome.status),
                            outcome.summary
                        ));
                    }
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(names)
            .map(|(h, &name)| {
                h.join().unwrap_or_else(|_| {
                    let mut o = Outcome::fail(
                        "internal error: the check crashed",
                        "run again with -vv and report the output",
                    );
                    o.check = name.as_str();
                    o
                })
            })
            .collect()
    });
    // The table follows; the live lines would only repeat it.
    if let Some(m) = multi {
        let _ = m.clear();
    }
    outcomes
}

fn spinner(multi: &indicatif::MultiProgress, name: CheckName) -> indicatif::ProgressBar {
    let bar = multi.add(indicatif::ProgressBar::new_spinner());
    let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:<13} {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(name.as_str());
    bar.set_message("starting");
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Skipped => "-",
    }
}

/// The summary table: one line per check; under a failure, each problem and its fix.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    for o in outcomes {
        match o.status {
            Status::Fail if o.problems.len() > 1 => {
                s.push_str(&format!(
                    "{} {:<13} {} problems\n",
                    mark(o.status),
                    o.check,
                    o.problems.len()
                ));
                for p in &o.problems {
                    s.push_str(&format!(
                        "  {:<13} ✗ {}\n  {:<13}   fix: {}\n",
                        "", p.problem, "", p.fix
                    ));
                }
            }
            Status::Fail => {
                s.push_str(&format!(
                    "{} {:<13} {}\n",
                    mark(o.status),
                    o.check,
                    o.summary
                ));
                for p in &o.problems {
                    s.push_str(&format!("  {:<13} fix: {}\n", "", p.fix));
                }
            }
            Status::Skipped => s.push_str(&format!(
                "{} {:<13} skipped: {}\n",
                mark(o.status),
                o.check,
                o.summary
            )),
            Status::Pass => s.push_str(&format!(
                "{} {:<13} {}\n",
                mark(o.status),
                o.check,
                o.summary
            )),
        }
    }
    let count = |st| outcomes.iter().filter(|o| o.status == st).count();
    s.push_str(&format!(
        "doctor: {} of {} checks passed ({} failed, {} skipped)\n",
        count(Status::Pass),
        outcomes.len(),
        count(Status::Fail),
        count(Status::Skipped)
    ));
    s
}

pub fn json_report(outcomes: &[Outcome]) -> String {
    let ok = !outcomes.iter().any(|o| o.status == Status::Fail);
    let v = serde_json::json!({ "ok": ok, "checks": outcomes });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
