"""What a config names, read from the compiler's own output (`env` and `render`), and the
stand-ins the harness provides for it inside the container: host names, a test CA with
certificates at the configured paths, secret files with generated values, an SMTP server in
the configured mode, and the GitLab stand-in at gitlab.url behind the container's nginx."""

import re
import secrets
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path


CHECKS = Path(__file__).resolve().parent.parent.parent  # checks/
SMTP_SERVER = CHECKS.parent / "crates/gitlab-mattermost/tests/support/smtp_server.py"
MAKE_CERTS = CHECKS / "vm/make-test-certs.sh"
# Where the container sees the repository's checks/ folder (bound read-only).
CHECKS_IN_CONTAINER = "/opt/system-test/checks"
SMTP_IN_CONTAINER = "/opt/system-test/smtp_server.py"
GITLAB_STANDIN_PORT = 8181
MAILBOX = "/var/lib/system-test/mailbox.jsonl"
GITLAB_STATE = "/var/lib/system-test/gitlab-state.json"
ADMIN_TOKEN_FILE = "/root/gitlab-admin-token"
USER_TOKEN_FILE = "/root/gitlab-user-token"
GITLAB_PASSWORD_FILE = "/root/gitlab-user-password"
# The project the stand-in serves for the integrations scenario (path, numeric id).
GITLAB_PROJECT = {"path": "group/project", "id": 7}
GITLAB_USER = {"user": "gitlab-alice", "email": "alice@gitlab-users.test", "name": "Alice Liddell", "id": 4242}


class SiteError(RuntimeError):
    """The harness cannot serve this config; the message names what is missing."""


@dataclass
class Site:
    env: dict  # every variable the compiler renders, secrets as their file paths
    secret_files: dict  # variable -> file path
    unit: str
    nginx: str
    nginx_files: dict
    server_names: list = field(default_factory=list)
    certificates: list = field(default_factory=list)  # (cert, key)
    secret_values: dict = field(default_factory=dict)  # file path -> value

    @property
    def site_url(self):
        return self.env["MM_SERVICESETTINGS_SITEURL"]

    @property
    def external_url(self):
        """The URL nginx serves (the vhost), which clients in the container use."""
        name = self.server_names[0]
        port = self.https_port
        return f"https://{name}" + ("" if port == 443 else f":{port}")

    @property
    def public_url(self):
        """Where users reach Mattermost: its SiteURL. When that is not the vhost itself, the
        harness plays the outer load balancer in front of it (see serve_outer_proxy)."""
        return self.site_url.rstrip("/")

    def behind_outer_proxy(self):
        site = urllib.parse.urlsplit(self.public_url)
        return (site.hostname, site.port or 443) != (self.server_names[0], self.https_port)

    @property
    def https_port(self):
        ports = re.findall(r"listen\s+(?:\S+:)?(\d+)\s+ssl", self.nginx)
        return int(ports[0]) if ports else 443

    @property
    def http_port(self):
        ports = [int(p) for p in re.findall(r"listen\s+(?:\S+:)?(\d+)\s*;", self.nginx)]
        return ports[0] if ports else None

    @property
    def gitlab_url(self):
        endpoint = self.env.get("MM_GITLABSETTINGS_AUTHENDPOINT")
        if not endpoint:
            return None
        parts = urllib.parse.urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def smtp(self):
        if self.env.get("MM_EMAILSETTINGS_SMTPSERVER") is None:
            return None
        return {
            "server": self.env["MM_EMAILSETTINGS_SMTPSERVER"],
            "port": int(self.env.get("MM_EMAILSETTINGS_SMTPPORT", "10025")),
            "security": self.env.get("MM_EMAILSETTINGS_CONNECTIONSECURITY", ""),
            "auth": self.env.get("MM_EMAILSETTINGS_ENABLESMTPAUTH") == "true",
            "username": self.env.get("MM_EMAILSETTINGS_SMTPUSERNAME", ""),
            "password_file": self.secret_files.get("MM_EMAILSETTINGS_SMTPPASSWORD"),
        }

    @property
    def local_socket(self):
        return self.env.get(
            "MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION", "/var/tmp/mattermost_local.socket"
        )

    @property
    def service_user(self):
        return re.search(r"^User=(.+)$", self.unit, re.M).group(1)

    @property
    def install_dir(self):
        exec_start = re.search(r"^ExecStart=(.+)$", self.unit, re.M).group(1)
        binary = exec_start.split(" -- ", 1)[1].split()[0]
        return str(Path(binary).parent.parent)

    def hosts(self):
        names = set(self.server_names)
        names.add(urllib.parse.urlsplit(self.site_url).hostname)
        if self.gitlab_url:
            names.add(urllib.parse.urlsplit(self.gitlab_url).hostname)
        if self.smtp:
            names.add(self.smtp["server"])
        return sorted(n for n in names if n and not re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", n))


def read(compiler, config):
    """Reads what `config` names through the compiler (`env` and a scratch `render`)."""
    env_out = subprocess.run([compiler, "env", config], capture_output=True, text=True)
    if env_out.returncode != 0:
        raise SiteError(f"the compiler refused {config}:\n{env_out.stderr}")
    env, secret_files = {}, {}
    for line in env_out.stdout.splitlines():
        name, _, value = line.partition("=")
        found = re.fullmatch(r"<from (.+)>", value)
        if found:
            secret_files[name] = found.group(1)
        env[name] = unquote(value)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "rendered"
        subprocess.run([compiler, "render", config, "--out", str(out)], check=True,
                       capture_output=True)
        unit = next((out / "systemd").glob("*.service")).read_text()
        nginx_files = {p.name: p.read_text() for p in (out / "nginx").glob("*.conf")}
    main_conf = next((t for n, t in nginx_files.items() if "server_name" in t), "")
    site = Site(env=env, secret_files=secret_files, unit=unit, nginx=main_conf,
                nginx_files=nginx_files)
    site.server_names = sorted(set(
        name for names in re.findall(r"server_name\s+([^;]+);", main_conf) for name in names.split()
    ))
    certs = re.findall(r"ssl_certificate\s+(\S+);", main_conf)
    keys = re.findall(r"ssl_certificate_key\s+(\S+);", main_conf)
    site.certificates = sorted(set(zip(certs, keys)))
    # Unit credentials name files the env output may not (e.g. setting_files).
    for name, path in re.findall(r"^LoadCredential=([^:]+):(.+)$", unit, re.M):
        var = re.search(rf"--credential {re.escape(name)}=(\S+)", unit)
        if var:
            secret_files.setdefault(var.group(1), path)
    check_servable(site)
    return site


def unquote(value):
    """A value as `env` prints it (the env file's syntax: double quotes, backslash escapes)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.S)
    return value


def check_servable(site):
    problems = []
    if not site.server_names:
        problems.append("nginx.enable: the system test reaches Mattermost through nginx")
    if not site.certificates:
        problems.append("nginx.certificate/certificate_key: the system test serves https")
    if not site.site_url.startswith("https://"):
        problems.append("site_url (or external_url) must be https: the clients use TLS")
    if site.gitlab_url and not site.gitlab_url.startswith("https://"):
        problems.append("gitlab.url must be https (the stand-in sits behind nginx's TLS)")
    if "host=/run/postgresql" not in site.env.get("MM_SQLSETTINGS_DATASOURCE", ""):
        problems.append("database.kind = \"local\": the container runs its own PostgreSQL")
    if problems:
        raise SiteError("the system test cannot serve this config:\n  - " + "\n  - ".join(problems))


def check_database_port(site, port):
    """The config's local database must use the port the container's cluster listens on."""
    dsn = site.env.get("MM_SQLSETTINGS_DATASOURCE", "")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(dsn).query)
    wanted = query.get("port", ["5432"])[0]
    if wanted != str(port):
        raise SiteError(f"the config's database port is {wanted}, but the container's PostgreSQL "
                        f"listens on {port}: set database.port = {port} (or leave it unset)")


def provision(container, site, workdir, state):
    """Makes the container serve everything `site` names. Idempotent: run after each boot."""
    hosts = site.hosts()
    lines = [l for l in container.run(["cat", "/etc/hosts"]).stdout.splitlines()
             if "# system-test" not in l]
    lines += [f"127.0.0.1 {h} # system-test" for h in hosts]
    container.write("/etc/hosts", "\n".join(lines) + "\n")
    certs_dir = Path(workdir) / "certs"
    if not (certs_dir / "ca.pem").exists():
        subprocess.run(["bash", str(MAKE_CERTS), str(certs_dir), *hosts], check=True,
                       capture_output=True)
    container.write("/usr/local/share/ca-certificates/system-test-ca.crt",
                    (certs_dir / "ca.pem").read_text())
    container.run(["update-ca-certificates"])
    for cert, key in site.certificates:
        host = site.server_names[0]
        container.write(cert, (certs_dir / f"{host}.pem").read_text())
        container.write(key, (certs_dir / f"{host}.key").read_text(), mode=0o600)
    if site.behind_outer_proxy():
        serve_outer_proxy(container, site, certs_dir)
    provision_secrets(container, site, state)
    if site.smtp:
        serve_smtp(container, site, certs_dir, state)
    if site.gitlab_url:
        serve_gitlab(container, site, certs_dir, state)


def provision_secrets(container, site, state):
    values = state.setdefault("secrets", {})
    for var, path in sorted(site.secret_files.items()):
        if path not in values:
            values[path] = f"{var.lower()}-{secrets.token_hex(12)}"
        container.write(path, values[path] + "\n", mode=0o600)
    site.secret_values = values


def serve_smtp(container, site, certs_dir, state):
    smtp = site.smtp
    mode = {"": "plain", "STARTTLS": "starttls", "TLS": "tls"}.get(smtp["security"])
    if mode is None:
        raise SiteError(f"smtp.connection_security {smtp['security']!r}: the stand-in knows "
                        "none, STARTTLS and TLS")
    password = site.secret_values.get(smtp["password_file"], "") if smtp["auth"] else "unused"
    host = smtp["server"]
    container.write(f"/etc/system-test/smtp/{host}.pem", (certs_dir / f"{host}.pem").read_text())
    container.write(f"/etc/system-test/smtp/{host}.key", (certs_dir / f"{host}.key").read_text(), 0o600)
    container.run(["mkdir", "-p", str(Path(MAILBOX).parent)])
    run_standin(container, "system-test-smtp", smtp["port"], [
        "python3", SMTP_IN_CONTAINER, mode, str(smtp["port"]),
        f"/etc/system-test/smtp/{host}.pem", f"/etc/system-test/smtp/{host}.key",
        smtp["username"] or "unused", password, MAILBOX,
    ])


def serve_gitlab(container, site, certs_dir, state):
    url = urllib.parse.urlsplit(site.gitlab_url)
    host, port = url.hostname, url.port or 443
    tokens = state.setdefault("gitlab", {
        "admin_token": "glpat-" + secrets.token_hex(10),
        "user_token": "glpat-" + secrets.token_hex(10),
        "password": "Gl-" + secrets.token_hex(8),
    })
    container.write(ADMIN_TOKEN_FILE, tokens["admin_token"] + "\n", 0o600)
    container.write(USER_TOKEN_FILE, tokens["user_token"] + "\n", 0o600)
    container.write(GITLAB_PASSWORD_FILE, tokens["password"] + "\n", 0o600)
    # GitLab sits behind its own nginx vhost, as Omnibus runs it.
    tls_server(container, "gitlab", host, port, certs_dir,
               "The GitLab stand-in of the system test, behind TLS like GitLab's workhorse.", f"""\
        proxy_pass http://127.0.0.1:{GITLAB_STANDIN_PORT};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto https;
""")
    container.run(["mkdir", "-p", str(Path(GITLAB_STATE).parent)])
    run_standin(container, "system-test-gitlab", GITLAB_STANDIN_PORT, [
        "python3", f"{CHECKS_IN_CONTAINER}/system/standins/gitlab.py",
        "--listen", f"127.0.0.1:{GITLAB_STANDIN_PORT}", "--state", GITLAB_STATE,
        "--external-url", site.gitlab_url, "--admin-token-file", ADMIN_TOKEN_FILE,
        "--user-token-file", USER_TOKEN_FILE, "--user", GITLAB_USER["user"],
        "--password-file", GITLAB_PASSWORD_FILE, "--email", GITLAB_USER["email"],
        "--name", GITLAB_USER["name"], "--user-id", str(GITLAB_USER["id"]),
        "--project", f"{GITLAB_PROJECT['path']}={GITLAB_PROJECT['id']}",
    ])


def serve_outer_proxy(container, site, certs_dir):
    """A load balancer at the site URL in front of the rendered vhost, as Omnibus users ran
    one when `service_site_url` differed from `mattermost_external_url`."""
    public = urllib.parse.urlsplit(site.public_url)
    host, port = public.hostname, public.port or 443
    inner = site.server_names[0]
    tls_server(container, "outer", host, port, certs_dir,
               "The outer load balancer of the system test: the site URL, in front of the rendered vhost.", f"""\
        proxy_pass https://127.0.0.1:{site.https_port};
        proxy_ssl_server_name on;
        proxy_ssl_name {inner};
        # As load balancers do, the public host name goes on: Mattermost builds the redirect
        # URI of its OAuth token request from the request's host, and GitLab compares it.
        proxy_set_header Host $host;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $http_connection;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_read_timeout 3600s;
""")


def tls_server(container, name, host, port, certs_dir, comment, location):
    """An nginx server of the harness's own (/etc/nginx/conf.d/system-test-NAME.conf) on
    `port` with TLS for `host` (the test CA's certificate), its `location /` as given."""
    container.write(f"/etc/system-test/{name}/{host}.pem", (certs_dir / f"{host}.pem").read_text())
    container.write(f"/etc/system-test/{name}/{host}.key", (certs_dir / f"{host}.key").read_text(), 0o600)
    container.write(f"/etc/nginx/conf.d/system-test-{name}.conf", f"""\
# {comment}
server {{
    listen {port} ssl;
    server_name {host};
    ssl_certificate /etc/system-test/{name}/{host}.pem;
    ssl_certificate_key /etc/system-test/{name}/{host}.key;
    location / {{
{location}    }}
}}
""")


def run_standin(container, unit, port, argv):
    """(Re)starts a stand-in as a transient unit of the container's systemd (its log in the
    journal, restarted if it dies) and waits until it listens on `port`."""
    container.run(["systemctl", "stop", unit], check=False)
    container.run(["systemctl", "reset-failed", unit], check=False)
    container.run(["systemd-run", f"--unit={unit}", "--property=Restart=on-failure", *argv])
    wait_for_port(container, port)


def wait_for_port(container, port, timeout=30):
    container.sh(
        f"for i in $(seq {timeout * 5}); do "
        f"  (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0; sleep 0.2; "
        f"done; echo 'nothing listens on port {port}' >&2; exit 1"
    )
