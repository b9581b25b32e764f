//! The service account and its directories: `sysusers.d`, `tmpfiles.d` and `ids.json`.

use crate::schema::FileDriver;
use crate::syntax::paths::join;
use crate::syntax::systemd::{tmpfiles_argument, word};
use crate::validate::Plan;

/// `sysusers.d/mattermost.conf`: the system user and group, with fixed ids when configured.
pub fn sysusers(plan: &Plan) -> String {
    let a = &plan.config.account;
    let id = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
    let mut s = format!("# {}\n", super::HEADER);
    // Names are checked to be plain (systemd-sysusers' own rules); the home is a word.
    s.push_str(&format!("g {} {}\n", a.group, id(a.gid)));
    // `uid:group` makes the named group the user's primary group.
    s.push_str(&format!(
        "u {} {}:{} \"Mattermost\" {} /usr/sbin/nologin\n",
        a.user,
        id(a.uid),
        a.group,
        word(&plan.config.directories.data)
    ));
    s
}

/// `tmpfiles.d/mattermost.conf`: directories owned by the service, the ACME webroot
/// (`nginx.acme_webroot`, root's), and the links Mattermost needs in its working directory
/// (it finds its web client, translations, mail templates and fonts relative to it).
pub fn tmpfiles(plan: &Plan) -> String {
    let c = &plan.config;
    let (u, g) = (&c.account.user, &c.account.group);
    let mut s = format!("# {}\n", super::HEADER);
    let mut dirs = vec![
        &c.directories.data,
        &c.directories.logs,
        &c.directories.config,
        &c.directories.plugins,
        &c.directories.client_plugins,
    ];
    let files_dir;
    if c.file_storage.driver == FileDriver::Local {
        files_dir = c
            .file_storage
            .directory
            .clone()
            .unwrap_or_else(|| format!("{}/data", c.directories.data.trim_end_matches('/')));
        dirs.push(&files_dir);
    }
    for d in dirs {
        s.push_str(&format!("d {} 0750 {u} {g} - -\n", word(d)));
    }
    // certbot (root) writes the challenges, nginx's workers read them.
    if let (true, Some(webroot)) = (c.nginx.enable, &c.nginx.acme_webroot) {
        s.push_str(&format!("d {} 0755 root root - -\n", word(webroot)));
    }
    for link in ["client", "i18n", "templates", "fonts"] {
        s.push_str(&format!(
            "L+ {} - - - - {}\n",
            word(&join(&c.directories.data, link)),
            tmpfiles_argument(&join(&c.mattermost.install_dir, link))
        ));
    }
    s
}

/// `ids.json`: the account, for other tools (and the NixOS module) to read.
pub fn ids_json(plan: &Plan) -> String {
    let a = &plan.config.account;
    let v = serde_json::json!({
        "user": a.user,
        "group": a.group,
        "uid": a.uid,
        "gid": a.gid,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}
