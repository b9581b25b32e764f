//! Pre-11.0 gitlab.rb keys: the naming rule, its documented exceptions, and what became of
//! settings Mattermost has renamed or removed since.
//!
//! Before GitLab 11.0 Omnibus rendered config.json from about 160 `mattermost['<section>_<key>']`
//! keys. The Omnibus documentation ("Upgrading GitLab Mattermost from versions prior to 11.0")
//! gives the rule `MM_<SECTION>SETTINGS_<KEY WITHOUT UNDERSCORES>` and a table of exceptions;
//! the removed template (config.json.erb at 9964a7368^) adds a few spellings of its own.

use crate::catalogue::{Catalogue, Setting};

/// gitlab.rb key prefix → Mattermost category. Longest prefixes first so `native_app_` wins
/// over shorter ones.
const PREFIXES: &[(&str, &str)] = &[
    ("localization_", "LOCALIZATIONSETTINGS"),
    ("native_app_", "NATIVEAPPSETTINGS"),
    ("ratelimit_", "RATELIMITSETTINGS"),
    ("privacy_", "PRIVACYSETTINGS"),
    ("support_", "SUPPORTSETTINGS"),
    ("service_", "SERVICESETTINGS"),
    ("plugin_", "PLUGINSETTINGS"),
    ("webrtc_", "WEBRTCSETTINGS"),
    ("gitlab_", "GITLABSETTINGS"),
    ("email_", "EMAILSETTINGS"),
    ("team_", "TEAMSETTINGS"),
    ("file_", "FILESETTINGS"),
    ("sql_", "SQLSETTINGS"),
    ("log_", "LOGSETTINGS"),
    ("job_", "JOBSETTINGS"),
];

/// Keys whose variable does not follow the rule: (gitlab.rb key, variable, source).
pub const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "service_lets_encrypt_cert_cache_file",
        "MM_SERVICESETTINGS_LETSENCRYPTCERTIFICATECACHEFILE",
        "Omnibus doc table",
    ),
    (
        "service_user_access_tokens",
        "MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS",
        "Omnibus doc table",
    ),
    (
        "service_allow_cookies_from_subdomains",
        "MM_SERVICESETTINGS_ALLOWCOOKIESFORSUBDOMAINS",
        "config.json.erb",
    ),
    (
        "log_console_enable",
        "MM_LOGSETTINGS_ENABLECONSOLE",
        "Omnibus doc table",
    ),
    (
        "log_file_directory",
        "MM_LOGSETTINGS_FILELOCATION",
        "mattermost_helper.rb",
    ),
    (
        "email_enable_batching",
        "MM_EMAILSETTINGS_ENABLEEMAILBATCHING",
        "Omnibus doc table",
    ),
    (
        "email_batching_buffer_size",
        "MM_EMAILSETTINGS_EMAILBATCHINGBUFFERSIZE",
        "Omnibus doc table",
    ),
    (
        "email_batching_interval",
        "MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL",
        "Omnibus doc table",
    ),
    (
        "email_smtp_auth",
        "MM_EMAILSETTINGS_ENABLESMTPAUTH",
        "Omnibus doc table",
    ),
    (
        "email_notification_content_type",
        "MM_EMAILSETTINGS_NOTIFICATIONCONTENTTYPE",
        "Omnibus doc table",
    ),
    (
        "ratelimit_enable_ratelimiter",
        "MM_RATELIMITSETTINGS_ENABLE",
        "Omnibus doc table",
    ),
    (
        "ratelimit_enable_rate_limiter",
        "MM_RATELIMITSETTINGS_ENABLE",
        "config.json.erb",
    ),
    (
        "support_email",
        "MM_SUPPORTSETTINGS_SUPPORTEMAIL",
        "Omnibus doc table",
    ),
    (
        "localization_server_locale",
        "MM_LOCALIZATIONSETTINGS_DEFAULTSERVERLOCALE",
        "Omnibus doc table",
    ),
    (
        "localization_client_locale",
        "MM_LOCALIZATIONSETTINGS_DEFAULTCLIENTLOCALE",
        "Omnibus doc table",
    ),
    (
        "webrtc_gateway_stun_uri",
        "MM_WEBRTCSETTINGS_STUN_URI",
        "Omnibus doc table",
    ),
    (
        "webrtc_gateway_turn_uri",
        "MM_WEBRTCSETTINGS_TURN_URI",
        "Omnibus doc table",
    ),
    (
        "webrtc_gateway_turn_username",
        "MM_WEBRTCSETTINGS_TURN_USERNAME",
        "Omnibus doc table",
    ),
    (
        "webrtc_gateway_turn_sharedkey",
        "MM_WEBRTCSETTINGS_TURN_SHAREDKEY",
        "Omnibus doc table",
    ),
    (
        "webrtc_gateway_turn_shared_key",
        "MM_WEBRTCSETTINGS_TURN_SHAREDKEY",
        "config.json.erb",
    ),
];

/// How a pre-11.0 key was turned into a variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyName {
    pub env_var: String,
    /// "the pre-11.0 rule" or "exception (Omnibus doc table)".
    pub how: String,
}

/// The variable a pre-11.0 `mattermost['<key>']` stood for, if the key has a known prefix.
pub fn legacy_env_name(key: &str) -> Option<LegacyName> {
    if let Some((_, env, source)) = EXCEPTIONS.iter().find(|(k, _, _)| *k == key) {
        return Some(LegacyName {
            env_var: (*env).to_string(),
            how: format!("the exception table ({source})"),
        });
    }
    let (prefix, category) = PREFIXES.iter().find(|(p, _)| key.starts_with(p))?;
    let rest = &key[prefix.len()..];
    if rest.is_empty() {
        return None;
    }
    Some(LegacyName {
        env_var: format!(
            "MM_{category}_{}",
            rest.replace('_', "").to_ascii_uppercase()
        ),
        how: "the rule MM_<SECTION>SETTINGS_<KEY WITHOUT UNDERSCORES>".into(),
    })
}

/// What a variable name means today.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// A setting Mattermost reads.
    Known(&'static Setting),
    /// Renamed: the same meaning under a new name, carried there.
    Renamed {
        to: &'static Setting,
        note: &'static str,
    },
    /// Gone (or moved with a different meaning): not carried.
    Removed { note: String },
    /// Not a setting at all; maybe a typo.
    Unknown { suggestion: Option<String> },
}

/// Settings that moved to a new name with the same values.
const RENAMED: &[(&str, &str, &str)] = &[
    (
        "MM_EMAILSETTINGS_NOTIFICATIONCONTENTTYPE",
        "EmailSettings.EmailNotificationContentsType",
        "the Omnibus doc's name; Mattermost calls it EmailNotificationContentsType (values full or generic)",
    ),
    (
        "MM_EMAILSETTINGS_EMAILNOTIFICATIONCONTENTTYPE",
        "EmailSettings.EmailNotificationContentsType",
        "renamed to EmailNotificationContentsType (values full or generic)",
    ),
];

/// Settings that are gone, by exact name or by prefix (ending in `_`).
const REMOVED: &[(&str, &str)] = &[
    ("MM_WEBRTCSETTINGS_", "WebRTC was removed in Mattermost 5.6; voice and video calls are the Calls plugin (com.mattermost.calls, on by default in PluginSettings.PluginStates; configure it in the System Console under Plugins > Calls)"),
    ("MM_SERVICESETTINGS_ENABLEAPIV3", "API v3 was removed in Mattermost 5.0; nothing replaces the switch"),
    ("MM_SERVICESETTINGS_ENABLEPREVIEWFEATURES", "removed from Mattermost; nothing replaces it"),
    ("MM_SERVICESETTINGS_CLOSEUNUSEDDIRECTMESSAGES", "removed from Mattermost; nothing replaces it"),
    ("MM_SERVICESETTINGS_IMAGEPROXYTYPE", "moved to ImageProxySettings.ImageProxyType (with ImageProxySettings.Enable), whose values changed; set it by hand"),
    ("MM_SERVICESETTINGS_IMAGEPROXYURL", "moved to ImageProxySettings.RemoteImageProxyURL; set it by hand with ImageProxySettings.Enable"),
    ("MM_SERVICESETTINGS_IMAGEPROXYOPTIONS", "moved to ImageProxySettings.RemoteImageProxyOptions; set it by hand with ImageProxySettings.Enable"),
    ("MM_TEAMSETTINGS_ENABLEXTOLEAVECHANNELSFROMLHS", "removed from Mattermost; nothing replaces it"),
    ("MM_LOGSETTINGS_FILEFORMAT", "replaced by LogSettings.FileJson (a boolean: JSON or plain text)"),
    ("MM_EMAILSETTINGS_INVITESALT", "removed from Mattermost (invite links no longer use a salt); Omnibus still generated it but never passed it after 11.0"),
    ("MM_INSTALL_TYPE", "Omnibus's marker that Omnibus manages the installation (`gitlab_omnibus`); it no longer does"),
];

/// Look a variable name up: known, renamed, removed or unknown.
pub fn resolve(env_var: &str) -> Resolution {
    let upper = env_var.to_ascii_uppercase();
    let catalogue = Catalogue::get();
    if let Some(s) = catalogue.by_env(&upper) {
        return Resolution::Known(s);
    }
    if let Some((_, to, note)) = RENAMED.iter().find(|(from, _, _)| *from == upper) {
        if let Some(to) = catalogue.by_path(to) {
            return Resolution::Renamed { to, note };
        }
    }
    let removed = REMOVED.iter().find(|(name, _)| {
        if name.ends_with('_') {
            upper.starts_with(name)
        } else {
            upper == *name
        }
    });
    if let Some((_, note)) = removed {
        return Resolution::Removed {
            note: (*note).to_string(),
        };
    }
    Resolution::Unknown {
        suggestion: catalogue.suggest(&upper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_strips_underscores() {
        let n = legacy_env_name("service_maximum_login_attempts").expect("has a prefix");
        assert_eq!(n.env_var, "MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS");
        assert_eq!(
            legacy_env_name("sql_max_idle_conns").map(|n| n.env_var),
            Some("MM_SQLSETTINGS_MAXIDLECONNS".into())
        );
        assert_eq!(
            legacy_env_name("native_app_ios_app_download_link").map(|n| n.env_var),
            Some("MM_NATIVEAPPSETTINGS_IOSAPPDOWNLOADLINK".into())
        );
        assert_eq!(legacy_env_name("uid"), None);
    }

    #[test]
    fn exceptions_win_over_the_rule() {
        let n = legacy_env_name("email_enable_batching").expect("exception");
        assert_eq!(n.env_var, "MM_EMAILSETTINGS_ENABLEEMAILBATCHING");
        assert!(n.how.contains("exception table"));
    }

    #[test]
    fn every_exception_resolves_to_something_explained() {
        for (key, env, _) in EXCEPTIONS {
            match resolve(env) {
                Resolution::Known(_) | Resolution::Renamed { .. } | Resolution::Removed { .. } => {}
                Resolution::Unknown { .. } => panic!("{key} -> {env} is unexplained"),
            }
        }
    }

    #[test]
    fn renamed_and_removed_settings_say_what_replaced_them() {
        match resolve("MM_EMAILSETTINGS_NOTIFICATIONCONTENTTYPE") {
            Resolution::Renamed { to, .. } => {
                assert_eq!(to.path(), "EmailSettings.EmailNotificationContentsType")
            }
            other => panic!("{other:?}"),
        }
        match resolve("MM_WEBRTCSETTINGS_STUN_URI") {
            Resolution::Removed { note } => assert!(note.contains("Calls plugin")),
            other => panic!("{other:?}"),
        }
        match resolve("MM_EMAILSETTINGS_BATCHINGINTERVAL") {
            Resolution::Unknown { suggestion } => assert_eq!(
                suggestion.as_deref(),
                Some("MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL")
            ),
            other => panic!("{other:?}"),
        }
    }
}
