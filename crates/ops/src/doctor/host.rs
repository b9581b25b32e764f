//! The host check: the external host (and the site URL's, when it differs) resolves, and
//! Mattermost's listen port is free or held by Mattermost itself.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use super::{Ctx, Outcome, Steps};

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut facts = Vec::new();
    // The vhost's host, and the one users open when `site_url` differs.
    let mut sites = vec![&ctx.plan.site];
    if ctx.plan.site_url.host != ctx.plan.site.host {
        sites.push(&ctx.plan.site_url);
    }
    for site in sites {
        steps.doing(&format!("resolving {}", site.host));
        match (site.host.as_str(), site.port).to_socket_addrs() {
            Ok(addrs) => {
                let list: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                steps.done(format!("{} resolves to {}", site.host, list.join(", ")));
                facts.push(format!("{} resolves", site.host));
            }
            Err(e) => problems.push((
                format!("{} does not resolve: {e}", site.host),
                format!(
                    "add an A/AAAA record for {} (or an /etc/hosts entry)",
                    site.host
                ),
            )),
        }
    }
    match listen_port(ctx) {
        Ok(fact) => {
            steps.done(fact.clone());
            facts.push(fact);
        }
        Err(p) => problems.push(p),
    }
    if problems.is_empty() {
        Outcome::pass(facts.join("; "))
    } else {
        Outcome::failures(problems)
    }
}

/// The address exactly as Mattermost gets it (`ServiceSettings.ListenAddress`).
fn listen_addr(ctx: &Ctx) -> String {
    ctx.plan
        .env
        .get("MM_SERVICESETTINGS_LISTENADDRESS")
        .cloned()
        .unwrap_or_default()
}

fn listen_port(ctx: &Ctx) -> Result<String, (String, String)> {
    let addr = listen_addr(ctx);
    let port = ctx.plan.config.listen.port;
    let parsed: SocketAddr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            (
                format!("listen.address {addr} is not an address"),
                "set listen.address to an IP address of this host".to_string(),
            )
        })?;
    match TcpListener::bind(parsed) {
        Ok(_) => Ok(format!("port {port} is free for Mattermost")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => held_by(ctx, port),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err((
            format!(
                "listen.address {} is not an address of this host",
                ctx.plan.config.listen.address
            ),
            "set listen.address to 127.0.0.1 (nginx proxies to it)".into(),
        )),
        // Binding a low port without privileges says nothing about who holds it.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Ok(format!("port {port}: not checked ({e})"))
        }
        Err(e) => Err((
            format!("cannot bind {addr}: {e}"),
            "check listen.address and listen.port".into(),
        )),
    }
}

/// Who listens on `port`: Mattermost is fine, anything else is a conflict.
fn held_by(ctx: &Ctx, port: u16) -> Result<String, (String, String)> {
    let install = ctx.plan.config.mattermost.install_dir.trim_end_matches('/');
    match listener_process(port) {
        Some((pid, comm, exe))
            if comm == "mattermost" || exe.starts_with(&format!("{install}/")) =>
        {
            Ok(format!("port {port} is held by Mattermost (pid {pid})"))
        }
        Some((pid, comm, _)) => Err((
            format!("port {port} is held by {comm} (pid {pid}), not Mattermost"),
            "stop that program, or set listen.port to a free port".to_string(),
        )),
        None => Err((
            format!("port {port} is in use by a process this user cannot see"),
            "run doctor as root to see which, then stop it or change listen.port".into(),
        )),
    }
}

/// Find the process listening on a TCP port through /proc: the socket inode from
/// /proc/net/tcp{,6}, then the process holding that inode.
fn listener_process(port: u16) -> Option<(u32, String, String)> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| l.to_str().map(str::to_string))
                .and_then(|l| {
                    l.strip_prefix("socket:[")
                        .and_then(|r| r.strip_suffix(']'))
                        .map(str::to_string)
                })
                .is_some_and(|ino| inodes.contains(&ino))
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let exe = std::fs::read_link(entry.path().join("exe"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Some((pid, comm, exe));
        }
    }
    None
}

fn listening_inodes(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, inode is field 9.
            let listening = f.get(3) == Some(&"0A");
            let on_port = f
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening && on_port {
                if let Some(ino) = f.get(9) {
                    out.push(ino.to_string());
                }
            }
        }
    }
    out
}
