//! The rendered files, checked by the real tools that will consume them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Render the full example with a wrapper and install dir that exist on this machine, so
/// `systemd-analyze verify` can resolve `ExecStart=`.
fn render_for_host(out: &Path, extra: &[&str]) {
    let wrapper = format!("mattermost.wrapper={}", bin_path().display());
    let mut args = vec!["--set", wrapper.as_str()];
    args.extend_from_slice(extra);
    render(&example("full.toml"), out, &args);
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if !have("systemd-analyze") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_for_host(&out, &[]);
    let unit = out.join("systemd/mattermost.service");
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Only complaints about this unit count (the host's other units are not ours).
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mattermost.service"))
        .collect();
    assert!(
        o.status.success() && ours.is_empty(),
        "verify failed:\n{stderr}"
    );
}

/// Parse "Overall exposure level for mattermost.service: 1.3 OK".
fn exposure(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    line.rsplit(':')
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn unit_exposure_stays_at_1_3() {
    if !have("systemd-analyze") {
        return;
    }
    for variant in [
        &[][..],
        &[
            "--set",
            "database.kind=external",
            "--set",
            "database.host=db",
            "--set",
            "database.password_file=/run/secrets/db",
        ][..],
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        render_for_host(&out, variant);
        let o = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(out.join("systemd/mattermost.service"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let score = exposure(&text).unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
        eprintln!("exposure {score} for {variant:?}");
        // 1.3 is what the hardening reached; nothing added since may raise it.
        assert!(score <= 1.3, "exposure {score} > 1.3:\n{text}");
    }
}

#[test]
fn sysusers_and_tmpfiles_apply_to_a_scratch_root() {
    if !have("systemd-sysusers") || !have("systemd-tmpfiles") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_for_host(&out, &[]);
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let o = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(out.join("sysusers.d/mattermost.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("mattermost:x:1234:1234:Mattermost:/var/lib/mattermost:/usr/sbin/nologin"),
        "{passwd}"
    );
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(group.contains("mattermost:x:1234:"), "{group}");

    let o = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.display()))
        .arg("--create")
        .arg(out.join("tmpfiles.d/mattermost.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::MetadataExt;
    for dir in [
        "var/lib/mattermost",
        "var/log/mattermost",
        "var/lib/mattermost/config",
        "var/lib/mattermost/data",
    ] {
        let meta = std::fs::metadata(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1234, 1234, 0o750),
            "{dir}"
        );
    }
    let link = std::fs::read_link(root.join("var/lib/mattermost/client")).unwrap();
    assert_eq!(link, Path::new("/opt/mattermost/client"));
}

/// A self-signed certificate for `host`, made with openssl.
fn self_signed(dir: &Path, host: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let o = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={host}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{host}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (cert, key)
}

#[test]
fn nginx_accepts_the_vhost() {
    if !have("nginx") || !have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path(), "mattermost.example.com");
    let out = tmp.path().join("out");
    let cert_set = format!("nginx.certificate={}", cert.display());
    let key_set = format!("nginx.certificate_key={}", key.display());
    render_for_host(
        &out,
        &[
            "--set",
            &cert_set,
            "--set",
            &key_set,
            "--set",
            "nginx.listen_addresses=[\"127.0.0.1\"]",
            "--set",
            "nginx.listen_port=18443",
            "--set",
            "nginx.redirect_http_port=18080",
        ],
    );
    nginx_test(
        tmp.path(),
        &format!("include {}/nginx/mattermost.conf;", out.display()),
    );
}

#[test]
fn nginx_accepts_the_locations_inside_a_foreign_server_block() {
    if !have("nginx") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("minimal.toml"), &out, &[]);
    let out = out.display();
    nginx_test(
        tmp.path(),
        &format!(
            "include {out}/nginx/http.conf;\n  server {{\n    listen 127.0.0.1:18081;\n    include {out}/nginx/locations.conf;\n  }}"
        ),
    );
}

/// `nginx -t` on a minimal nginx.conf whose `http` block holds `http_body`.
fn nginx_test(dir: &Path, http_body: &str) {
    let conf = write(
        dir,
        "nginx.conf",
        &format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  {http_body}\n}}\n",
            d = dir.display()
        ),
    );
    let o = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "nginx -t failed:\n{stderr}");
    assert!(stderr.contains("test is successful"), "{stderr}");
}
