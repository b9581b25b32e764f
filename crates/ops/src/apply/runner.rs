//! Running the host's tools (systemctl, systemd-sysusers, nginx, psql …) behind a small
//! trait, so tests can record the commands and script their answers.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<String>,
    /// It acts on the running host (systemctl, PostgreSQL) and has no scratch-root form:
    /// with `--root` it is shown, not run.
    pub host_only: bool,
    /// Give up waiting after this long (the command itself may go on, e.g. a start job).
    pub timeout: Option<Duration>,
}

impl Cmd {
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Cmd {
        Cmd {
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            host_only: false,
            timeout: None,
        }
    }

    pub fn host_only(mut self) -> Cmd {
        self.host_only = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = Some(t);
        self
    }

    /// The command as a shell line (for the plan and the report).
    pub fn line(&self) -> String {
        self.argv
            .iter()
            .map(|a| shell_word(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quote a word for display as a POSIX shell word, only when needed.
fn shell_word(a: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !a.is_empty() && a.chars().all(plain) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// The exit code; `None` when killed by a signal, timed out or not run.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    /// Not run: a host-only command under `--root`.
    pub skipped: bool,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.skipped || self.code == Some(0)
    }

    /// The last non-empty line of stderr (else stdout), for one-line reports.
    pub fn last_line(&self) -> String {
        [&self.stderr, &self.stdout]
            .iter()
            .find_map(|t| t.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("no output")
            .trim()
            .to_string()
    }
}

pub trait Runner {
    /// Run `cmd` to its end (or its timeout). `Err` only when it could not be started.
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<CmdOutput>;
}

/// Runs commands for real; under a scratch root, host-only commands are skipped.
pub struct SystemRunner {
    pub scratch: bool,
}

impl Runner for SystemRunner {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<CmdOutput> {
        if self.scratch && cmd.host_only {
            return Ok(CmdOutput {
                skipped: true,
                ..CmdOutput::default()
            });
        }
        let Some((program, args)) = cmd.argv.split_first() else {
            return Ok(CmdOutput::default());
        };
        tracing::debug!("running {}", cmd.line());
        let mut child = Command::new(program)
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Read both pipes on threads so a chatty command cannot block on a full pipe.
        let out = child.stdout.take();
        let err = child.stderr.take();
        let out_t = std::thread::spawn(move || read_all(out));
        let err_t = std::thread::spawn(move || read_all(err));
        let started = Instant::now();
        let (code, timed_out) = loop {
            if let Some(status) = child.try_wait()? {
                break (status.code(), false);
            }
            if cmd.timeout.is_some_and(|t| started.elapsed() >= t) {
                // Only the client is stopped: a systemd job it started goes on.
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(CmdOutput {
            code,
            stdout: out_t.join().unwrap_or_default(),
            stderr: err_t.join().unwrap_or_default(),
            timed_out,
            skipped: false,
        })
    }
}

fn read_all<R: Read>(pipe: Option<R>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_reports_and_times_out() {
        let mut r = SystemRunner { scratch: false };
        let o = r
            .run(&Cmd::new(&["sh", "-c", "echo out; echo err >&2; exit 3"]))
            .unwrap();
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        assert_eq!(o.last_line(), "err");
        let o = r
            .run(&Cmd::new(&["sleep", "5"]).timeout(Duration::from_millis(200)))
            .unwrap();
        assert!(o.timed_out && !o.success());
        assert!(r.run(&Cmd::new(&["/nonexistent/tool"])).is_err());
    }

    #[test]
    fn host_only_commands_are_skipped_under_a_scratch_root() {
        let mut r = SystemRunner { scratch: true };
        let o = r.run(&Cmd::new(&["false"]).host_only()).unwrap();
        assert!(o.skipped && o.success());
        assert!(!r.run(&Cmd::new(&["false"])).unwrap().success());
    }

    #[test]
    fn lines_quote_only_what_needs_it() {
        let c = Cmd::new(&["psql", "-c", "SELECT 1", "it's"]);
        assert_eq!(c.line(), "psql -c 'SELECT 1' 'it'\\''s'");
    }
}
