//! Which Mattermost an Omnibus installation ran, from its GitLab version, and which supported
//! `mattermost.version` the imported config therefore targets.

use crate::lifecycle;
use crate::schema::MattermostVersion;

/// A (major, minor) release.
type Release = (u32, u32);

/// GitLab minor release → the Mattermost minor release its Linux package bundled, for GitLab
/// 15.0 and later ("GitLab Mattermost versions and edition shipped with the Linux package" in
/// GitLab's doc/integration/mattermost, and omnibus-gitlab's tags of
/// config/software/mattermost.rb; a release not listed kept the previous one). GitLab 18.3 to
/// 18.5 shipped 10.10 (18.5: 10.10.2), 18.6 to 18.11 shipped 10.11 (18.11: 10.11.20), all Team
/// Edition; 19.0 removed it.
const BUNDLED: &[(Release, Release)] = &[
    ((15, 0), (6, 6)),
    ((15, 1), (6, 7)),
    ((15, 2), (7, 0)),
    ((15, 3), (7, 1)),
    ((15, 4), (7, 2)),
    ((15, 5), (7, 3)),
    ((15, 6), (7, 4)),
    ((15, 7), (7, 5)),
    ((15, 9), (7, 7)),
    ((15, 10), (7, 8)),
    ((15, 11), (7, 9)),
    ((16, 0), (7, 10)),
    ((16, 3), (8, 0)),
    ((16, 4), (8, 1)),
    ((16, 5), (9, 0)),
    ((16, 6), (9, 1)),
    ((16, 7), (9, 3)),
    ((16, 9), (9, 4)),
    ((16, 10), (9, 5)),
    ((16, 11), (9, 6)),
    ((17, 0), (9, 7)),
    ((17, 1), (9, 8)),
    ((17, 2), (9, 9)),
    ((17, 3), (9, 10)),
    ((17, 4), (9, 11)),
    ((17, 5), (10, 0)),
    ((17, 6), (10, 1)),
    ((17, 7), (10, 2)),
    ((17, 9), (10, 4)),
    ((17, 11), (10, 6)),
    ((18, 0), (10, 7)),
    ((18, 1), (10, 8)),
    ((18, 2), (10, 9)),
    ((18, 3), (10, 10)),
    ((18, 6), (10, 11)),
];

/// GitLab 19.0 removed the bundled Mattermost.
const LAST_BUNDLING: (u32, u32) = (18, 11);

/// `18.2`, `18.2.1`, `18.2.1-ee`, `v18.2.1+ce.0`: major and minor.
pub fn parse_gitlab_version(text: &str) -> Option<(u32, u32)> {
    let t = text.trim().trim_start_matches('v');
    let mut parts = t.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Mattermost release (major, minor) that GitLab's Linux package bundled, if known.
pub fn bundled_mattermost(gitlab: (u32, u32)) -> Option<(u32, u32)> {
    if gitlab > LAST_BUNDLING {
        return None;
    }
    BUNDLED
        .iter()
        .rev()
        .find(|(gl, _)| *gl <= gitlab)
        .map(|(_, mm)| *mm)
}

/// What the import targets, and the sentence for the report.
pub struct Target {
    pub version: MattermostVersion,
    pub note: String,
}

/// The supported version to target for a GitLab version: the supported line, whatever ran
/// (Mattermost migrates the database forward at first start, never back; `apply` backs it up
/// first). The note says what ran and the upgrade's conditions.
pub fn target_for(gitlab_text: &str) -> Result<Target, String> {
    let gitlab = parse_gitlab_version(gitlab_text).ok_or_else(|| {
        format!("expected a GitLab version such as 18.2 or 18.2.1, found {gitlab_text:?}")
    })?;
    let (gl_major, gl_minor) = gitlab;
    let target = lifecycle::line(MattermostVersion::V11_7);
    let version = target.version;
    let conditions = format!(
        "run {} {} or later (from 10.11.17 on, earlier 11 releases break the database migration numbers), \
         on PostgreSQL {} or later; the upgrade is one-way, so `gitlab-mattermost apply` backs everything up \
         before the new version first starts",
        target.name, target.minimum_patch, target.minimum_postgresql
    );
    let note = match bundled_mattermost(gitlab) {
        Some((major, minor)) if (major, minor) >= (6, 6) => format!(
            "GitLab {gl_major}.{gl_minor} bundled Mattermost {major}.{minor} (Team Edition), which is past its end of life: \
             mattermost.version = \"{version}\", the supported ESR; {conditions}"
        ),
        Some(_) => unreachable_older(gl_major, gl_minor, version),
        None if gitlab > LAST_BUNDLING => format!(
            "GitLab {gl_major}.{gl_minor} bundles no Mattermost (removed in 19.0): mattermost.version = \"{version}\", \
             the supported ESR; if your server still runs the 10 line, {conditions}"
        ),
        None => unreachable_older(gl_major, gl_minor, version),
    };
    Ok(Target { version, note })
}

fn unreachable_older(gl_major: u32, gl_minor: u32, version: MattermostVersion) -> String {
    format!(
        "GitLab {gl_major}.{gl_minor} bundled a Mattermost older than 6.6: mattermost.version = \"{version}\"; \
         upgrade through GitLab 15 or later first, since Mattermost cannot migrate such an old database in one step"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_versions_are_read_in_every_spelling() {
        assert_eq!(parse_gitlab_version("18.2"), Some((18, 2)));
        assert_eq!(parse_gitlab_version("18.2.1-ee\n"), Some((18, 2)));
        assert_eq!(parse_gitlab_version("v17.11.3+ce.0"), Some((17, 11)));
        assert_eq!(parse_gitlab_version("eighteen"), None);
        assert_eq!(parse_gitlab_version("18"), None);
    }

    #[test]
    fn bundled_versions_follow_the_table_and_its_gaps() {
        assert_eq!(bundled_mattermost((18, 3)), Some((10, 10)));
        // 18.4 and 18.5 kept 10.10 (18.5 shipped 10.10.2); 18.6 brought 10.11.
        assert_eq!(bundled_mattermost((18, 5)), Some((10, 10)));
        assert_eq!(bundled_mattermost((18, 6)), Some((10, 11)));
        assert_eq!(bundled_mattermost((18, 11)), Some((10, 11)));
        // 17.10 is not listed: it kept 17.9's 10.4.
        assert_eq!(bundled_mattermost((17, 10)), Some((10, 4)));
        assert_eq!(bundled_mattermost((14, 10)), None);
        assert_eq!(bundled_mattermost((19, 0)), None);
    }

    #[test]
    fn every_import_targets_a_supported_version_not_older_than_what_ran() {
        let t = target_for("18.2.1").expect("valid");
        assert_eq!(t.version, MattermostVersion::V11_7);
        assert!(t.note.contains("bundled Mattermost 10.9"), "{}", t.note);
        let t = target_for("18.11.2").expect("valid");
        assert!(t.note.contains("bundled Mattermost 10.11"), "{}", t.note);
        assert!(t.note.contains("11.7.3 or later"), "{}", t.note);
        assert!(target_for("19.1")
            .expect("valid")
            .note
            .contains("bundles no Mattermost"));
        assert!(target_for("x").is_err());
    }
}
