//! `mattermost.env`: the non-secret environment, in systemd `EnvironmentFile=` syntax (see
//! [`crate::syntax::env_file`] for the quoting, and the reader `gitlab-mattermost exec` uses).

use crate::validate::Plan;

pub use crate::syntax::env_file::{parse, quote};

pub fn render(plan: &Plan) -> String {
    let mut out = format!("# {}\n", super::HEADER);
    out.push_str("# Secrets are not here: they are read from files at service start.\n");
    for (name, value) in &plan.env {
        out.push_str(name);
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
    out
}
