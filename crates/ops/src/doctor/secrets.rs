//! The secrets check: every secret file exists, is not world-readable and is owned by root
//! or the service user, and holds what Mattermost accepts where it has a rule: not empty, not
//! the text `null` (what `jq -r` prints for a missing key), an AtRestEncryptKey of at least 32
//! characters. Contents are read only when doctor can (as root or the owner) and never printed:
//! the report says what is wrong with a value, never the value.

use std::os::unix::fs::MetadataExt;

use super::{Ctx, Outcome, Steps};
use crate::users;

/// Every secret path in the config: the credentials systemd loads, plus nginx's private key.
fn secret_paths(ctx: &Ctx) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ctx
        .plan
        .credentials
        .iter()
        .map(|c| (c.name.clone(), c.path.clone()))
        .collect();
    let n = &ctx.plan.config.nginx;
    if let (true, true, Some(key)) = (n.enable, ctx.plan.https, &n.certificate_key) {
        v.push(("nginx certificate key".into(), key.clone()));
    }
    v
}

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let paths = secret_paths(ctx);
    if paths.is_empty() {
        return Outcome::skipped("no secret files are configured");
    }
    let service = &ctx.plan.config.account.user;
    let service_uid = users::lookup(service).map(|u| u.uid);
    let mut problems: Vec<(String, String)> = Vec::new();
    for (name, path) in &paths {
        match inspect(path, service_uid).and_then(|()| content(ctx, name, path)) {
            Ok(()) => steps.done(format!("{path} ({name}): mode, owner and content fine")),
            Err((what, fix)) => problems.push((format!("{path} ({name}): {what}"), fix)),
        }
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "{} secret file(s) present, private, owned by root or {service}",
            paths.len()
        ))
    } else {
        Outcome::failures(problems)
    }
}

/// Mattermost refuses to start with an AtRestEncryptKey shorter than this.
const AT_REST_KEY_MIN: usize = 32;

/// What the value must be, where Mattermost has a rule. Unreadable here (not root, not the
/// owner) is not a failure: mode and owner were checked.
fn content(ctx: &Ctx, name: &str, path: &str) -> Result<(), (String, String)> {
    content_problem(ctx.plan, name, path)
}

/// `content` for a plan alone (apply refuses to start Mattermost on such a value): what is
/// wrong with the value and how to fix it, never the value.
pub fn content_problem(
    plan: &crate::validate::Plan,
    name: &str,
    path: &str,
) -> Result<(), (String, String)> {
    let Some(credential) = plan.credentials.iter().find(|c| c.name == name) else {
        return Ok(());
    };
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&bytes);
    let value = text.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        return Err((
            "is empty".into(),
            format!("write the secret into {path} (mode 0600)"),
        ));
    }
    if value.trim() == "null" {
        return Err((
            "holds the text `null` (what `jq -r` prints for a key that is missing): the secret was not where it was read from".into(),
            format!(
                "write the real secret into {path}; after GitLab 19 Omnibus's Mattermost secrets are no longer in \
                 gitlab-secrets.json but in /etc/gitlab/config_backup/gitlab_config_*.tar and /opt/gitlab/etc/mattermost/env/"
            ),
        ));
    }
    let at_rest = credential.uses.iter().any(|u| {
        matches!(u, crate::validate::SecretUse::Variable(v) if v == "MM_SQLSETTINGS_ATRESTENCRYPTKEY")
    });
    let chars = value.chars().count();
    if at_rest && chars < AT_REST_KEY_MIN {
        return Err((
            format!(
                "holds {chars} characters; Mattermost needs at least {AT_REST_KEY_MIN} for SqlSettings.AtRestEncryptKey and refuses to start"
            ),
            "put the server's existing key there (a new key loses what the old one encrypted); only a new server takes a new one: \
             `openssl rand -hex 16 > FILE`"
                .into(),
        ));
    }
    Ok(())
}

fn inspect(path: &str, service_uid: Option<u32>) -> Result<(), (String, String)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "missing".to_string()
        } else {
            format!("cannot be inspected: {e}")
        };
        (
            what,
            format!("create {path} (mode 0600, owned by root) holding the secret"),
        )
    })?;
    if !meta.is_file() {
        return Err((
            "is not a regular file".into(),
            format!("make {path} a file holding the secret"),
        ));
    }
    if meta.mode() & 0o004 != 0 {
        return Err((
            format!("is world-readable (mode {:04o})", meta.mode() & 0o7777),
            format!("chmod 0600 {path}"),
        ));
    }
    let owner_ok = meta.uid() == 0 || Some(meta.uid()) == service_uid;
    if !owner_ok {
        return Err((
            format!(
                "is owned by uid {}, neither root nor the service user",
                meta.uid()
            ),
            format!("chown root: {path}"),
        ));
    }
    Ok(())
}
