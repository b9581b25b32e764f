//! What is known about each Mattermost line the compiler targets: when its support ends, the
//! PostgreSQL it needs, the settings that stop it from starting, the settings it dropped and
//! the defaults it changed, what GitLab sign-in needs, and the upgrades known to break. One
//! table, read by `check` (validation), `doctor`, `apply` (the upgrade preflight), `explain`
//! and `import`.
//!
//! Sources: Mattermost's release and lifecycle pages, its v10/v11 changelogs and important
//! upgrade notes; "measured" facts were observed on the 10.10 and 11.4 builds the system test
//! makes from Mattermost's Go modules.

use crate::schema::MattermostVersion;

/// A calendar day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub const fn new(year: i32, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    /// `YYYY-MM-DD`, nothing else.
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        let date = Date::new(year, month, day);
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(date)
    }

    /// The day `days` after 1970-01-01 (Howard Hinnant's civil_from_days).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The variable that fixes "today" for support decisions (tests, reproducible runs).
pub const TODAY_VARIABLE: &str = "GITLAB_MATTERMOST_TODAY";

/// Today (UTC), or the day `GITLAB_MATTERMOST_TODAY=YYYY-MM-DD` names.
pub fn today() -> Result<Date, String> {
    if let Some(text) = std::env::var_os(TODAY_VARIABLE) {
        let text = text.to_string_lossy();
        return Date::parse(&text)
            .ok_or_else(|| format!("{TODAY_VARIABLE}={text:?}: expected a day as YYYY-MM-DD"));
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970".to_string())?
        .as_secs();
    Ok(Date::from_unix_days((seconds / 86_400) as i64))
}

/// What GitLab sign-in needs on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitLabSignIn {
    /// Every edition offers it (10.x).
    EveryEdition,
    /// Only the Enterprise build offers it (licensed, or unlicensed as "Entry"). Team Edition
    /// shows no GitLab button, though its `/oauth/gitlab/login` route still answers
    /// (measured on 11.4; undocumented, and it may close in any release).
    EnterpriseOnly,
}

/// A value that makes a line refuse to start.
#[derive(Debug, Clone, Copy)]
pub struct StartRefusal {
    /// `Category.Field`.
    pub setting: &'static str,
    pub refuses: Refuses,
    pub why: &'static str,
}

/// Which values a [`StartRefusal`] is about, as the environment spells them.
#[derive(Debug, Clone, Copy)]
pub enum Refuses {
    Value(&'static str),
    AnyBut(&'static str),
}

impl Refuses {
    pub fn matches(self, rendered: &str) -> bool {
        match self {
            Refuses::Value(v) => rendered.eq_ignore_ascii_case(v),
            Refuses::AnyBut(v) => !rendered.eq_ignore_ascii_case(v),
        }
    }
}

/// A default the line changed from the previous one (`Category.Field`, before, after).
#[derive(Debug, Clone, Copy)]
pub struct ChangedDefault {
    pub setting: &'static str,
    pub before: &'static str,
    pub after: &'static str,
}

/// Everything known about one line.
#[derive(Debug)]
pub struct Line {
    pub version: MattermostVersion,
    /// `Mattermost 11.7 ESR`.
    pub name: &'static str,
    pub released: Date,
    pub support_ends: Date,
    /// The oldest patch release to run (`11.7.3`: earlier ones break the migration numbers
    /// of databases that ran 10.11.17 or later).
    pub minimum_patch: &'static str,
    /// The oldest PostgreSQL major version it runs on.
    pub minimum_postgresql: u32,
    pub gitlab_sign_in: GitLabSignIn,
    pub refuses_to_start: &'static [StartRefusal],
    /// Settings (`Category` or `Category.Field`) the previous line had and this one ignores.
    pub removed: &'static [&'static str],
    pub changed_defaults: &'static [ChangedDefault],
    /// Whether a database this line has migrated can be run by the previous line again.
    pub downgrade: &'static str,
}

/// A move between two releases known to damage the database.
#[derive(Debug)]
pub struct BadUpgrade {
    /// From this release or later (`major.minor.patch`)...
    pub from_at_least: (u32, u32, u32),
    /// ...to a release from this one...
    pub to_at_least: (u32, u32, u32),
    /// ...up to this one.
    pub to_at_most: (u32, u32, u32),
    pub why: &'static str,
    pub instead: &'static str,
}

pub const LINES: [Line; 2] = [
    Line {
        version: MattermostVersion::V10_11,
        name: "Mattermost 10.11 ESR",
        released: Date::new(2025, 8, 15),
        support_ends: Date::new(2026, 8, 15),
        minimum_patch: "10.11.0",
        minimum_postgresql: 13,
        gitlab_sign_in: GitLabSignIn::EveryEdition,
        refuses_to_start: &[],
        removed: &[],
        changed_defaults: &[],
        downgrade: "a 10.11 database can be run by 10.10 again only from a backup taken before",
    },
    Line {
        version: MattermostVersion::V11_7,
        name: "Mattermost 11.7 ESR",
        released: Date::new(2026, 5, 15),
        support_ends: Date::new(2027, 5, 15),
        minimum_patch: "11.7.3",
        minimum_postgresql: 14,
        gitlab_sign_in: GitLabSignIn::EnterpriseOnly,
        refuses_to_start: &[
            StartRefusal {
                setting: "TeamSettings.ExperimentalViewArchivedChannels",
                refuses: Refuses::Value("false"),
                why: "11.0 made archived channels always viewable",
            },
            StartRefusal {
                setting: "ExperimentalSettings.ClientSideCertEnable",
                refuses: Refuses::Value("true"),
                why: "11.0 removed client-side certificate sign-in",
            },
            StartRefusal {
                setting: "SqlSettings.DriverName",
                refuses: Refuses::AnyBut("postgres"),
                why: "11.0 removed MySQL support",
            },
        ],
        removed: &[
            "NotificationLogSettings",
            "BleveSettings",
            "LogSettings.VerboseDiagnostics",
            "ExperimentalSettings.ClientSideCertCheck",
        ],
        changed_defaults: &[
            ChangedDefault {
                setting: "SqlSettings.MaxIdleConns",
                before: "20",
                after: "50",
            },
            ChangedDefault {
                setting: "SqlSettings.MaxOpenConns",
                before: "300",
                after: "100",
            },
        ],
        downgrade: "one-way: 11 rewrites every password it verifies to PBKDF2 (10.x then refuses \
                    those logins) and removes the webhook and slash-command permissions from every \
                    role; going back needs the database as it was before the upgrade",
    },
];

pub const BAD_UPGRADES: &[BadUpgrade] = &[BadUpgrade {
    from_at_least: (10, 11, 17),
    to_at_least: (11, 0, 0),
    to_at_most: (11, 7, 2),
    why: "11 releases up to 11.7.2 break the database migration numbers of a server that ran 10.11.17 or later",
    instead: "11.7.3 or later",
}];

/// The facts of one line.
pub fn line(version: MattermostVersion) -> &'static Line {
    LINES
        .iter()
        .find(|l| l.version == version)
        .unwrap_or(&LINES[LINES.len() - 1])
}

/// `Some(end)` when the line's support ended before `today`.
pub fn ended(version: MattermostVersion, today: Date) -> Option<Date> {
    let end = line(version).support_ends;
    (end < today).then_some(end)
}

/// The newest line whose support has not ended: what an admin should move to.
pub fn supported_target(today: Date) -> &'static Line {
    LINES
        .iter()
        .rev()
        .find(|l| l.support_ends >= today)
        .unwrap_or(&LINES[LINES.len() - 1])
}

/// `11.7.2` → (11, 7, 2); a missing patch is 0; anything after the numbers is ignored.
pub fn parse_release(text: &str) -> Option<(u32, u32, u32)> {
    let t = text.trim().trim_start_matches('v');
    let mut numbers = t.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    let patch = numbers.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// The known-bad upgrade a move from `from` to `to` would be, if any.
pub fn bad_upgrade(from: (u32, u32, u32), to: (u32, u32, u32)) -> Option<&'static BadUpgrade> {
    BAD_UPGRADES
        .iter()
        .find(|b| from >= b.from_at_least && to >= b.to_at_least && to <= b.to_at_most)
}

/// The line a release belongs to, when it is one the compiler knows.
pub fn line_of_release(release: (u32, u32, u32)) -> Option<MattermostVersion> {
    match (release.0, release.1) {
        (10, 11) => Some(MattermostVersion::V10_11),
        (11, _) => Some(MattermostVersion::V11_7),
        _ => None,
    }
}

/// `YYYYMMDDTHHMMSSZ` for now, in UTC.
pub fn utc_stamp(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let date = Date::from_unix_days(days as i64);
    let (y, m, d) = (date.year, date.month, date.day);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(utc_stamp(t), "20240229T123456Z");
    }

    #[test]
    fn days_convert_to_calendar_dates() {
        assert_eq!(Date::from_unix_days(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_unix_days(20_680), Date::new(2026, 8, 15));
        assert_eq!(Date::from_unix_days(11_016), Date::new(2000, 2, 29));
        assert_eq!(Date::from_unix_days(-1), Date::new(1969, 12, 31));
    }

    #[test]
    fn only_real_days_parse() {
        assert_eq!(Date::parse("2026-08-15"), Some(Date::new(2026, 8, 15)));
        assert_eq!(Date::parse("2028-02-29"), Some(Date::new(2028, 2, 29)));
        for bad in [
            "2027-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "tomorrow",
            "2026-8",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ten_eleven_ended_after_august_fifteenth_2026() {
        let v = MattermostVersion::V10_11;
        assert_eq!(ended(v, Date::new(2026, 8, 15)), None);
        assert_eq!(
            ended(v, Date::new(2026, 8, 16)),
            Some(Date::new(2026, 8, 15))
        );
        assert_eq!(
            ended(MattermostVersion::V11_7, Date::new(2026, 12, 7)),
            None
        );
        assert_eq!(
            supported_target(Date::new(2026, 12, 7)).version,
            MattermostVersion::V11_7
        );
    }

    #[test]
    fn the_migration_number_trap_is_known() {
        assert!(bad_upgrade((10, 11, 17), (11, 7, 2)).is_some());
        assert!(bad_upgrade((10, 11, 20), (11, 7, 0)).is_some());
        assert!(bad_upgrade((10, 11, 16), (11, 7, 2)).is_none());
        assert!(bad_upgrade((10, 11, 20), (11, 7, 3)).is_none());
        assert!(bad_upgrade((10, 11, 20), (11, 4, 0)).is_some());
        assert!(bad_upgrade((10, 10, 2), (11, 4, 0)).is_none());
        assert_eq!(parse_release("v11.7.16"), Some((11, 7, 16)));
        assert_eq!(parse_release("10.11"), Some((10, 11, 0)));
        assert_eq!(parse_release("11.4.0-rc1"), Some((11, 4, 0)));
    }

    #[test]
    fn start_refusals_match_as_the_environment_spells_them() {
        let l = line(MattermostVersion::V11_7);
        let by = |s: &str| {
            l.refuses_to_start
                .iter()
                .find(|r| r.setting == s)
                .expect("listed")
                .refuses
        };
        assert!(by("TeamSettings.ExperimentalViewArchivedChannels").matches("false"));
        assert!(!by("TeamSettings.ExperimentalViewArchivedChannels").matches("true"));
        assert!(by("SqlSettings.DriverName").matches("mysql"));
        assert!(!by("SqlSettings.DriverName").matches("postgres"));
    }
}
