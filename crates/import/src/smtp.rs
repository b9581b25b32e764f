//! Mail settings as both importers lift them: EmailSettings describing a complete mail setup
//! become the `smtp` section, with every field written out; otherwise they stay free-form
//! settings, which express the same without the typed checks.

use serde_json::Value;

use super::bag::{Candidate, Precedence, Resolved};
use super::report::{Origin, Section};
use super::Ctx;
use crate::catalogue::Catalogue;

/// Every Mattermost mail setting and its key in the `smtp` section: both importers write all of
/// them out once a mail server is set, so that nothing falls back to another default.
const SMTP_FIELDS: [(&str, &str); 14] = [
    ("EmailSettings.SMTPServer", "server"),
    ("EmailSettings.SMTPPort", "port"),
    ("EmailSettings.EnableSMTPAuth", "auth"),
    ("EmailSettings.SMTPUsername", "username"),
    ("EmailSettings.ConnectionSecurity", "connection_security"),
    (
        "EmailSettings.SkipServerCertificateVerification",
        "skip_server_certificate_verification",
    ),
    ("EmailSettings.FeedbackName", "feedback_name"),
    ("EmailSettings.FeedbackEmail", "feedback_email"),
    ("EmailSettings.SendEmailNotifications", "send_notifications"),
    (
        "EmailSettings.EnableSignInWithEmail",
        "enable_sign_in_with_email",
    ),
    (
        "EmailSettings.EnableSignUpWithEmail",
        "enable_sign_up_with_email",
    ),
    ("EmailSettings.EnableEmailBatching", "batching.enable"),
    ("EmailSettings.EmailBatchingInterval", "batching.interval"),
    (
        "EmailSettings.EmailBatchingBufferSize",
        "batching.buffer_size",
    ),
];

/// What the `smtp` section needs from the winning EmailSettings.
pub struct MailSetup {
    pub server: String,
    pub port: u16,
    /// `EnableSMTPAuth`: a password file is then needed.
    pub auth: bool,
}

fn default(path: &str) -> Value {
    Catalogue::get()
        .by_path(path)
        .and_then(|s| serde_json::from_str::<Value>(s.default).ok())
        .unwrap_or(Value::Null)
}

fn get<'r, L>(r: &'r Resolved<L>, path: &str) -> Option<&'r Candidate<L>> {
    r.get(Catalogue::get().by_path(path)?.env_var)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `None` without a mail server; else the setup, or why the smtp section cannot hold it.
pub fn mail_setup<L>(r: &Resolved<L>) -> Option<Result<MailSetup, String>> {
    let server = get(r, "EmailSettings.SMTPServer")
        .map(|c| text(&c.value))
        .filter(|s| !s.is_empty())?;
    let value = |path: &str| get(r, path).map_or_else(|| default(path), |c| c.value.clone());
    let given = |path: &str| {
        get(r, path)
            .map(|c| text(&c.value))
            .filter(|s| !s.is_empty())
    };
    let security = text(&value("EmailSettings.ConnectionSecurity"));
    let port = text(&value("EmailSettings.SMTPPort")).parse::<u16>();
    let auth = value("EmailSettings.EnableSMTPAuth") == Value::Bool(true);
    let in_range = |path: &str| {
        value(path)
            .as_u64()
            .is_some_and(|n| u32::try_from(n).is_ok())
    };
    let why_not = if !["", "TLS", "STARTTLS"].contains(&security.as_str()) {
        format!("ConnectionSecurity {security:?} has no smtp.connection_security value")
    } else if port.is_err() {
        "SMTPPort is not a port number".into()
    } else if !given("EmailSettings.FeedbackEmail").is_some_and(|f| f.contains('@')) {
        "no FeedbackEmail address (smtp needs one)".into()
    } else if auth && given("EmailSettings.SMTPUsername").is_none() {
        "SMTP authentication is on but no SMTPUsername is set".into()
    } else if !in_range("EmailSettings.EmailBatchingInterval")
        || !in_range("EmailSettings.EmailBatchingBufferSize")
    {
        "the batching interval or buffer size is out of range".into()
    } else {
        return Some(Ok(MailSetup {
            server,
            port: port.unwrap_or(25),
            auth,
        }));
    };
    Some(Err(why_not))
}

/// Report that the mail settings stay free-form, and why.
pub fn keep_free_form(ctx: &mut Ctx, origin: Origin, why: &str) {
    ctx.report.add(
        Section::Derived,
        Some(origin),
        format!("mail settings stay free-form settings (not the smtp section): {why}"),
    );
}

/// Write the smtp section: every field, taken out of `r` (its origin reported, with how the
/// input's key became it), or Mattermost's default reported at `origin`. The password is
/// left to the caller (each importer knows where it could be).
pub fn lift<L: Precedence>(ctx: &mut Ctx, r: &mut Resolved<L>, setup: &MailSetup, origin: &Origin) {
    ctx.set_out(&["smtp", "enable"], Value::Bool(true));
    ctx.report.add(
        Section::Derived,
        Some(origin.clone()),
        format!(
            "smtp.enable = true: SMTPServer {:?} is set; every smtp field is written out so that nothing falls back to another default",
            setup.server
        ),
    );
    for (path, key) in SMTP_FIELDS {
        let c = Catalogue::get()
            .by_path(path)
            .and_then(|s| r.remove(s.env_var));
        let v = c
            .as_ref()
            .map_or_else(|| default(path), |c| c.value.clone());
        let v = match key {
            "port" => Value::from(setup.port),
            "username" if v == Value::String(String::new()) => continue,
            _ => v,
        };
        let mut keys = vec!["smtp"];
        keys.extend(key.split('.'));
        ctx.set_out(&keys, v.clone());
        let line = format!("smtp.{key} = {v}");
        match c {
            Some(c) => {
                let via = c
                    .via
                    .as_ref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                ctx.report
                    .add(Section::Carried, Some(c.origin), format!("{line}{via}"));
            }
            None => ctx.report.add(
                Section::Derived,
                Some(origin.clone()),
                format!("{line} (Mattermost's default for {path})"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bag::Layer;

    fn resolved(values: &[(&str, Value)]) -> Resolved {
        values
            .iter()
            .map(|(path, v)| {
                let s = Catalogue::get().by_path(path).expect("known setting");
                let c = Candidate {
                    value: v.clone(),
                    origin: Origin::Omnibus((*path).into()),
                    layer: Layer::Env,
                    implicit: false,
                    via: None,
                    in_store: false,
                };
                (s.env_var.to_string(), c)
            })
            .collect()
    }

    #[test]
    fn a_complete_setup_is_lifted_and_an_incomplete_one_says_why_not() {
        let complete = [
            ("EmailSettings.SMTPServer", Value::from("mail.example.com")),
            ("EmailSettings.SMTPPort", Value::from("587")),
            ("EmailSettings.FeedbackEmail", Value::from("mm@example.com")),
        ];
        let setup = mail_setup(&resolved(&complete))
            .expect("a server")
            .expect("complete");
        assert_eq!(
            (setup.server.as_str(), setup.port, setup.auth),
            ("mail.example.com", 587, false)
        );

        assert!(mail_setup(&resolved(&complete[1..])).is_none(), "no server");
        let why = |extra: (&str, Value)| {
            let mut v = complete.to_vec();
            v.push(extra);
            mail_setup(&resolved(&v))
                .expect("a server")
                .err()
                .unwrap_or_default()
        };
        assert!(
            why(("EmailSettings.ConnectionSecurity", Value::from("SSL")))
                .contains("ConnectionSecurity")
        );
        assert!(why(("EmailSettings.EnableSMTPAuth", Value::Bool(true))).contains("SMTPUsername"));
        assert!(
            why(("EmailSettings.FeedbackEmail", Value::from("nobody"))).contains("FeedbackEmail")
        );
    }

    #[test]
    fn every_field_is_written_out_and_the_port_is_a_number() {
        let mut r = resolved(&[
            ("EmailSettings.SMTPServer", Value::from("mail.example.com")),
            ("EmailSettings.SMTPPort", Value::from("465")),
            ("EmailSettings.FeedbackEmail", Value::from("mm@example.com")),
        ]);
        let setup = mail_setup(&r).expect("a server").expect("complete");
        let mut ctx = Ctx::new("test", None).expect("a context");
        lift(
            &mut ctx,
            &mut r,
            &setup,
            &Origin::Omnibus("EmailSettings".into()),
        );
        let smtp = &ctx.out["smtp"];
        assert_eq!(smtp["port"], Value::from(465));
        assert_eq!(smtp["server"], Value::from("mail.example.com"));
        assert!(smtp["batching"]["interval"].is_number(), "{smtp}");
        assert!(r.is_empty(), "every lifted setting is taken out: {r:?}");
    }
}
