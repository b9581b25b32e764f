//! Requirements that combine several values of a section ("GitLab sign-in needs a URL").
//!
//! They only run on a section whose every value could be read, from input whose every file
//! could be read: judged on a default that stands in for an unreadable value (or on a value
//! a broken file would have overridden), they would report problems the user does not have.

use super::{key, Context, Report};
use crate::diag::Diagnostic;
use crate::schema::{Config, DatabaseKind, FileDriver};

/// Report `msg` at `k` (located at its section) when `cond` holds.
fn need(report: &mut Report, cond: bool, k: &str, msg: &str, hint: &str) {
    if cond {
        report(
            Diagnostic::new(k, msg).with_hint(hint),
            &key(k.rsplit_once('.').map_or(k, |(p, _)| p)),
        );
    }
}

pub(super) fn check(config: &Config, https: Option<bool>, ctx: &Context, report: &mut Report) {
    if ctx.section("nginx") && ctx.section("external_url") {
        nginx(config, https, report);
    }
    if ctx.section("gitlab") {
        gitlab(config, report);
    }
    if ctx.section("smtp") {
        smtp(config, report);
    }
    if ctx.section("database") && ctx.section("account") {
        database(config, report);
    }
    if ctx.section("file_storage") {
        file_storage(config, report);
    }
}

/// https needs a certificate and a key, and the http redirect a port of its own.
fn nginx(config: &Config, https: Option<bool>, report: &mut Report) {
    let n = &config.nginx;
    if !n.enable || https != Some(true) {
        return;
    }
    let https_port = n.listen_port.or_else(|| {
        url::Url::parse(&config.external_url)
            .ok()
            .and_then(|u| u.port_or_known_default())
    });
    if n.redirect_http_to_https && https_port == Some(n.redirect_http_port) {
        // nginx merges both servers into one TLS socket: plain http there gets a 400.
        report(
            Diagnostic::new(
                "nginx.redirect_http_port",
                format!(
                    "the http redirect cannot listen on the https port {}",
                    n.redirect_http_port
                ),
            )
            .with_hint(
                "pick another port (usually 80), or set nginx.redirect_http_to_https = false",
            ),
            &key("nginx.redirect_http_port"),
        );
    }
    // Placed at what turned https on, the missing key having no place.
    let on = if n.https.is_some() {
        "nginx.https"
    } else {
        "external_url"
    };
    for (k, v) in [
        ("nginx.certificate", &n.certificate),
        ("nginx.certificate_key", &n.certificate_key),
    ] {
        if v.is_none() {
            report(
                Diagnostic::new(
                    k,
                    "https is on (from external_url or nginx.https) but no path is set",
                )
                .with_hint(format!(
                    "set `{k}`, or `nginx.https = false` when TLS ends before nginx"
                )),
                &key(on),
            );
        }
    }
}

fn gitlab(config: &Config, report: &mut Report) {
    let g = &config.gitlab;
    if !g.enable {
        return;
    }
    let endpoints = [&g.auth_endpoint, &g.token_endpoint, &g.user_api_endpoint];
    need(
        report,
        g.url.is_none() && endpoints.iter().any(|e| e.is_none()),
        "gitlab.url",
        "GitLab sign-in is enabled but GitLab's URL is not set",
        "set gitlab.url = \"https://gitlab.example.com\" (the endpoints are derived from it)",
    );
    need(
        report,
        g.id.is_none() && g.id_file.is_none(),
        "gitlab.id",
        "GitLab sign-in is enabled but no application id is set",
        "set gitlab.id, or gitlab.id_file written by `gitlab-mattermost gitlab register`",
    );
    need(
        report,
        g.id.is_some() && g.id_file.is_some(),
        "gitlab.id_file",
        "both gitlab.id and gitlab.id_file are set",
        "keep one of them",
    );
    need(
        report,
        g.secret_file.is_none(),
        "gitlab.secret_file",
        "GitLab sign-in is enabled but no application secret file is set",
        "set gitlab.secret_file to a root-only file holding GitLab's application secret",
    );
}

fn smtp(config: &Config, report: &mut Report) {
    let s = &config.smtp;
    if !s.enable {
        return;
    }
    need(
        report,
        s.server.as_deref().is_none_or(str::is_empty),
        "smtp.server",
        "mail is enabled but no SMTP server is set",
        "set smtp.server = \"smtp.example.com\"",
    );
    need(
        report,
        s.auth && s.username.is_none(),
        "smtp.username",
        "SMTP authentication is on but no user name is set",
        "set smtp.username, or smtp.auth = false",
    );
    need(
        report,
        s.auth && s.password_file.is_none(),
        "smtp.password_file",
        "SMTP authentication is on but no password file is set",
        "set smtp.password_file to a root-only file holding the password",
    );
    need(
        report,
        s.feedback_email.as_deref().is_none_or(|e| !e.contains('@')),
        "smtp.feedback_email",
        "mail is enabled but smtp.feedback_email is not an email address",
        "set smtp.feedback_email = \"mattermost@example.com\"",
    );
}

fn database(config: &Config, report: &mut Report) {
    let db = &config.database;
    match db.kind {
        DatabaseKind::Local => {
            need(report, db.password_file.is_some() || db.host.is_some(), "database.kind",
                "a local database uses peer authentication over the unix socket: database.host and database.password_file are not used",
                "remove them, or set database.kind = \"external\"");
            need(
                report,
                db.user != config.account.user,
                "database.user",
                "peer authentication needs the database role to equal the service user",
                "set database.user to account.user, or use database.kind = \"external\"",
            );
        }
        DatabaseKind::External => {
            need(
                report,
                db.host.is_none(),
                "database.host",
                "an external database needs a host",
                "set database.host = \"db.example.com\"",
            );
            need(
                report,
                db.password_file.is_none(),
                "database.password_file",
                "an external database needs a password file",
                "set database.password_file to a root-only file holding the password",
            );
        }
    }
}

fn file_storage(config: &Config, report: &mut Report) {
    let f = &config.file_storage;
    if f.driver != FileDriver::S3 {
        return;
    }
    need(
        report,
        f.bucket.is_none(),
        "file_storage.bucket",
        "S3 storage needs a bucket",
        "set file_storage.bucket",
    );
    need(report, f.access_key_id.is_some() != f.secret_access_key_file.is_some(), "file_storage.secret_access_key_file",
        "set both file_storage.access_key_id and file_storage.secret_access_key_file, or neither (IAM role)", "S3 credentials come in pairs");
}
