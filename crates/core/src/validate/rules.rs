//! Mattermost's own validation rules (`Config.IsValid` in `server/public/model/config.go`)
//! for the settings we render. A config Mattermost would refuse at start is refused here,
//! before anything is written. Each rule names its upstream error id; rules Mattermost added
//! in a later version apply from that version on (checked against `isValid` in the model of
//! each supported version, the one its catalogue comes from).

use std::collections::BTreeMap;

use serde_json::Value;

use super::settings::SettingValue;
use super::{key, Report};
use crate::catalogue::Catalogue;
use crate::diag::Diagnostic;

/// Read access to the final settings, falling back to Mattermost's defaults.
struct View<'a> {
    values: &'a BTreeMap<String, SettingValue>,
    catalogue: &'static Catalogue,
}

impl View<'_> {
    fn raw(&self, path: &str) -> Option<Value> {
        let setting = self.catalogue.by_path(path)?;
        if let Some(v) = self.values.get(setting.env_var) {
            // Secrets read from files are unknown here: no rule can judge them.
            return (!v.value.is_null()).then(|| v.value.clone());
        }
        let d = setting.default.trim();
        if let Ok(v) = serde_json::from_str::<Value>(d) {
            return Some(v);
        }
        None
    }

    /// Whether the user (or a typed section) set it, as opposed to Mattermost's default.
    fn is_set(&self, path: &str) -> bool {
        self.catalogue
            .by_path(path)
            .is_some_and(|s| self.values.contains_key(s.env_var))
    }

    fn int(&self, path: &str) -> Option<i64> {
        match self.raw(path)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    fn bool(&self, path: &str) -> bool {
        match self.raw(path) {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        }
    }

    fn string(&self, path: &str) -> Option<String> {
        match self.raw(path)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn origin(&self, path: &str) -> Vec<String> {
        self.catalogue
            .by_path(path)
            .and_then(|s| self.values.get(s.env_var))
            .map(|v| v.origin.clone())
            .unwrap_or_else(|| key("settings"))
    }
}

enum Rule {
    /// The integer must be at least this.
    AtLeast(&'static str, i64, &'static str),
    /// The integer must be within these bounds.
    Between(&'static str, i64, i64, &'static str),
    /// The string must be one of these.
    OneOf(&'static str, &'static [&'static str], &'static str),
}

const RULES: &[Rule] = &[
    Rule::AtLeast(
        "EmailSettings.EmailBatchingInterval",
        30,
        "model.config.is_valid.email_batching_interval.app_error",
    ),
    Rule::AtLeast(
        "EmailSettings.EmailBatchingBufferSize",
        1,
        "model.config.is_valid.email_batching_buffer_size.app_error",
    ),
    Rule::OneOf(
        "EmailSettings.ConnectionSecurity",
        &["", "TLS", "STARTTLS", "PLAIN"],
        "model.config.is_valid.email_security.app_error",
    ),
    Rule::OneOf(
        "EmailSettings.EmailNotificationContentsType",
        &["full", "generic"],
        "model.config.is_valid.email_notification_contents_type.app_error",
    ),
    Rule::OneOf(
        "SqlSettings.DriverName",
        &["postgres"],
        "model.config.is_valid.sql_driver.app_error",
    ),
    Rule::AtLeast(
        "SqlSettings.MaxIdleConns",
        1,
        "model.config.is_valid.sql_idle.app_error",
    ),
    Rule::AtLeast(
        "SqlSettings.MaxOpenConns",
        1,
        "model.config.is_valid.sql_max_conn.app_error",
    ),
    Rule::AtLeast(
        "SqlSettings.QueryTimeout",
        1,
        "model.config.is_valid.sql_query_timeout.app_error",
    ),
    Rule::AtLeast(
        "SqlSettings.ConnMaxLifetimeMilliseconds",
        0,
        "model.config.is_valid.sql_conn_max_lifetime_milliseconds.app_error",
    ),
    Rule::AtLeast(
        "SqlSettings.ConnMaxIdleTimeMilliseconds",
        0,
        "model.config.is_valid.sql_conn_max_idle_time_milliseconds.app_error",
    ),
    Rule::AtLeast(
        "FileSettings.MaxFileSize",
        1,
        "model.config.is_valid.max_file_size.app_error",
    ),
    Rule::OneOf(
        "FileSettings.DriverName",
        &["local", "amazons3"],
        "model.config.is_valid.file_driver.app_error",
    ),
    Rule::AtLeast(
        "FileSettings.AmazonS3RequestTimeoutMilliseconds",
        1,
        "model.config.is_valid.amazons3_timeout.app_error",
    ),
    Rule::OneOf(
        "ServiceSettings.ConnectionSecurity",
        &["", "TLS"],
        "model.config.is_valid.webserver_security.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.MaximumLoginAttempts",
        1,
        "model.config.is_valid.login_attempts.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.ReadTimeout",
        1,
        "model.config.is_valid.read_timeout.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.WriteTimeout",
        1,
        "model.config.is_valid.write_timeout.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.MaximumPayloadSizeBytes",
        1,
        "model.config.is_valid.max_payload_size.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.MaximumURLLength",
        1,
        "model.config.is_valid.max_url_length.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.TimeBetweenUserTypingUpdatesMilliseconds",
        1000,
        "model.config.is_valid.time_between_user_typing.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.OutgoingIntegrationRequestsTimeout",
        1,
        "model.config.is_valid.outgoing_integrations_request_timeout.app_error",
    ),
    Rule::OneOf(
        "ServiceSettings.CollapsedThreads",
        &["disabled", "default_on", "default_off", "always_on"],
        "model.config.is_valid.collapsed_threads.app_error",
    ),
    Rule::OneOf(
        "ServiceSettings.ExperimentalGroupUnreadChannels",
        &["disabled", "default_on", "default_off"],
        "model.config.is_valid.group_unread_channels.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.PersistentNotificationIntervalMinutes",
        2,
        "model.config.is_valid.persistent_notifications_interval.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.PersistentNotificationMaxCount",
        1,
        "model.config.is_valid.persistent_notifications_count.app_error",
    ),
    Rule::AtLeast(
        "ServiceSettings.PersistentNotificationMaxRecipients",
        1,
        "model.config.is_valid.persistent_notifications_recipients.app_error",
    ),
    Rule::AtLeast(
        "TeamSettings.MaxUsersPerTeam",
        1,
        "model.config.is_valid.max_users.app_error",
    ),
    Rule::AtLeast(
        "TeamSettings.MaxChannelsPerTeam",
        1,
        "model.config.is_valid.max_channels.app_error",
    ),
    Rule::AtLeast(
        "TeamSettings.UserStatusAwayTimeout",
        1,
        "model.config.is_valid.user_status_away_timeout.app_error",
    ),
    Rule::AtLeast(
        "TeamSettings.MaxNotificationsPerChannel",
        1,
        "model.config.is_valid.max_notify_per_channel.app_error",
    ),
    Rule::OneOf(
        "TeamSettings.RestrictDirectMessage",
        &["any", "team"],
        "model.config.is_valid.restrict_direct_message.app_error",
    ),
    Rule::OneOf(
        "TeamSettings.TeammateNameDisplay",
        &["full_name", "nickname_full_name", "username"],
        "model.config.is_valid.teammate_name_display.app_error",
    ),
    // PasswordMinimumLength = 5, PasswordMaximumLength = 72 in model/config.go.
    Rule::Between(
        "PasswordSettings.MinimumLength",
        5,
        72,
        "model.config.is_valid.password_length.app_error",
    ),
    Rule::AtLeast(
        "RateLimitSettings.MemoryStoreSize",
        1,
        "model.config.is_valid.rate_mem.app_error",
    ),
    Rule::AtLeast(
        "RateLimitSettings.PerSec",
        1,
        "model.config.is_valid.rate_sec.app_error",
    ),
    Rule::AtLeast(
        "RateLimitSettings.MaxBurst",
        1,
        "model.config.is_valid.max_burst.app_error",
    ),
    Rule::AtLeast(
        "ExperimentalSettings.LinkMetadataTimeoutMilliseconds",
        1,
        "model.config.is_valid.link_metadata_timeout.app_error",
    ),
];

/// Apply every rule; report each violation at the key that set the value. The rules that
/// combine settings run only on `complete` input (see [`super::Input`]).
pub(super) fn check(
    values: &BTreeMap<String, SettingValue>,
    catalogue: &'static Catalogue,
    complete: bool,
    report: &mut Report,
) {
    let view = View { values, catalogue };
    let mut fail = |path: &str, msg: String, id: &str| {
        report(
            Diagnostic::new(path, msg)
                .with_hint(format!("Mattermost refuses this at start ({id})")),
            &view.origin(path),
        );
    };
    for rule in RULES {
        match rule {
            Rule::AtLeast(path, min, id) => {
                if let Some(v) = view.int(path).filter(|v| v < min) {
                    fail(path, format!("expected at least {min}, found {v}"), id);
                }
            }
            Rule::Between(path, lo, hi, id) => {
                if let Some(v) = view.int(path).filter(|v| v < lo || v > hi) {
                    fail(path, format!("expected {lo} to {hi}, found {v}"), id);
                }
            }
            Rule::OneOf(path, allowed, id) => {
                if !view.is_set(path) {
                    continue;
                }
                if let Some(v) = view.string(path).filter(|v| !allowed.contains(&v.as_str())) {
                    let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                    fail(
                        path,
                        format!("expected one of {}, found {v:?}", list.join(", ")),
                        id,
                    );
                }
            }
        }
    }
    if complete {
        cross_field(&view, &mut fail);
    }
}

fn cross_field(view: &View, fail: &mut dyn FnMut(&str, String, &str)) {
    let site_url = view.string("ServiceSettings.SiteURL").unwrap_or_default();
    if view.bool("EmailSettings.EnableEmailBatching") {
        if site_url.is_empty() {
            fail(
                "EmailSettings.EnableEmailBatching",
                "email batching needs a SiteURL (site_url or external_url)".into(),
                "model.config.is_valid.site_url_email_batching.app_error",
            );
        }
        if view.bool("ClusterSettings.Enable") {
            fail(
                "EmailSettings.EnableEmailBatching",
                "email batching cannot be used with clustering".into(),
                "model.config.is_valid.cluster_email_batching.app_error",
            );
        }
    }
    if site_url.is_empty() && view.bool("ServiceSettings.AllowCookiesForSubdomains") {
        fail(
            "ServiceSettings.AllowCookiesForSubdomains",
            "cookies for subdomains need a SiteURL (site_url or external_url)".into(),
            "model.config.is_valid.allow_cookies_for_subdomains.app_error",
        );
    }
    if let Some(name) = view
        .string("TeamSettings.SiteName")
        .filter(|n| n.chars().count() > 30)
    {
        fail(
            "TeamSettings.SiteName",
            format!(
                "expected at most 30 characters, found {}",
                name.chars().count()
            ),
            "model.config.is_valid.sitename_length.app_error",
        );
    }
    // What makes a line refuse to start (archived channels hidden, certificate sign-in, a
    // driver other than postgres on 11) is checked from crate::lifecycle, in validate::lines.
    if let Some(dir) = view.string("FileSettings.Directory") {
        if dir.is_empty() || dir.trim() != dir {
            fail(
                "FileSettings.Directory",
                format!("expected a directory without surrounding spaces, found {dir:?}"),
                "model.config.is_valid.directory.app_error",
            );
        }
    }
    if let Some(n) = view
        .int("FileSettings.MaxImageDecoderConcurrency")
        .filter(|n| *n < -1 || *n == 0)
    {
        fail(
            "FileSettings.MaxImageDecoderConcurrency",
            format!("expected -1 or a positive number, found {n}"),
            "model.config.is_valid.image_decoder_concurrency.app_error",
        );
    }
    if let Some(addr) = view.string("ServiceSettings.ListenAddress") {
        if !listen_address_ok(&addr) {
            fail(
                "ServiceSettings.ListenAddress",
                format!("expected host:port with a port from 0 to 65535, found {addr:?}"),
                "model.config.is_valid.listen_address.app_error",
            );
        }
    }
    for path in ["ServiceSettings.SiteURL", "ServiceSettings.WebsocketURL"] {
        if let Some(u) = view.string(path).filter(|u| !u.is_empty()) {
            if url::Url::parse(&u).is_err() {
                fail(
                    path,
                    format!("expected a URL, found {u:?}"),
                    "model.config.is_valid.site_url.app_error",
                );
            }
        }
    }
    if let (Some(avail), Some(client)) = (
        view.string("LocalizationSettings.AvailableLocales"),
        view.string("LocalizationSettings.DefaultClientLocale"),
    ) {
        if !avail.is_empty() && !avail.contains(&client) {
            fail(
                "LocalizationSettings.AvailableLocales",
                format!("must include the default client locale {client:?}"),
                "model.config.is_valid.localization.available_locales.app_error",
            );
        }
    }
}

/// Go's `net.SplitHostPort` plus Mattermost's checks on the parts.
fn listen_address_ok(addr: &str) -> bool {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((h, p)) => (h, p),
            None => return false,
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return false,
            Some((h, p)) => (h, p),
            None => return false,
        }
    };
    let port_ok = port.parse::<u32>().is_ok_and(|p| p <= 65535);
    let host_ok = host.is_empty()
        || host.parse::<std::net::IpAddr>().is_ok()
        || host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::listen_address_ok;

    #[test]
    fn listen_addresses_follow_go_rules() {
        for ok in [
            ":8065",
            "127.0.0.1:8065",
            "[::1]:8065",
            "localhost:1",
            "mm.example.com:80",
        ] {
            assert!(listen_address_ok(ok), "{ok}");
        }
        for bad in [
            "8065",
            "127.0.0.1",
            "::1:8065",
            "[::1]",
            "host:99999",
            "ho st:80",
            "h:x",
        ] {
            assert!(!listen_address_ok(bad), "{bad}");
        }
    }
}
