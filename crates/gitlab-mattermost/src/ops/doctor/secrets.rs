//! The secrets check: every secret file exists, is not world-readable and is owned by root
//! or the service user. Contents are never read here.

use std::os::unix::fs::MetadataExt;

use super::{Ctx, Outcome, Steps};
use crate::ops::users;

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
        match inspect(path, service_uid) {
            Ok(()) => steps.done(format!("{path} ({name}): mode and owner fine")),
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
