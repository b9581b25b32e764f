"""An Omnibus-shaped host inside a container, made from a fixture laid out like an Omnibus
host's files, and run the way Omnibus ran Mattermost.

The fixture (a directory) holds `etc/gitlab/gitlab.rb` (required) and, optionally,
`etc/gitlab/gitlab-secrets.json`, `etc/gitlab/config_backup/*.tar` and
`var/opt/gitlab/mattermost/config.json`. What it lacks is filled in as Omnibus would:
- secrets: generated as Omnibus's `parse_secrets` did (hex keys, url-safe OAuth id and
  secret). A gitlab-secrets.json without a `mattermost` section is a host already upgraded
  to GitLab 19: the generated secrets then live where 19 leaves copies (a config_backup tar,
  as the upgrade's `gitlab-ctl backup-etc` makes it, and the env directory);
- config.json: Mattermost writes its default one at the first start (Omnibus copied the
  release's template, which is the same document);
- the account `mattermost` (uid/gid from `mattermost['uid'/'gid']`, else 994) and the
  PostgreSQL superuser account `gitlab-psql`.

Then, as Omnibus's recipes did: a PostgreSQL cluster in /var/opt/gitlab/postgresql (socket
only, no TCP; superuser gitlab-psql; `local all all peer map=gitlab` with the map
`gitlab mattermost gitlab_mattermost`), role gitlab_mattermost owning
mattermost_production; the env directory /opt/gitlab/etc/mattermost/env written from
gitlab.rb and the secrets (MattermostHelper.get_env_variables); Mattermost of the 10 line
in /opt/gitlab/embedded, started from /opt/gitlab/embedded/service/mattermost with the env
directory loaded (runit's `chpst -e`) as mattermost; the vhost Omnibus's nginx served. A
`gitlab-ctl` of the harness's own knows `start|stop|status mattermost`.

The OAuth application Omnibus registered in GitLab (same id, secret, redirect URIs, no
scopes) is seeded into the GitLab stand-in's state.
"""

import base64
import io
import json
import re
import secrets
import tarfile
import time
from pathlib import Path

from .log import step

# Where both hosts see the harness's transfer directory (what travels between them).
TRANSFER_IN_CONTAINER = "/var/tmp/system-test-transfer"
FIXTURES = Path(__file__).resolve().parent.parent / "omnibus"
DEFAULT_FIXTURE = FIXTURES / "default"
ENV_DIR = "/opt/gitlab/etc/mattermost/env"
HOME = "/var/opt/gitlab/mattermost"
PG_DIR = "/var/opt/gitlab/postgresql"
EMBEDDED = "/opt/gitlab/embedded"
DEFAULT_UID = 994
PSQL_UID = 996
MATTERMOST_UNIT = "omnibus-mattermost"
# A web-app-only plugin the old host had installed (in its plugin directory before start),
# with a secret setting: its state and settings live in config.json and must move with it.
PLUGIN_ID = "com.example.omnibus-probe"
PLUGIN_MANIFEST = {
    "id": PLUGIN_ID, "name": "Omnibus probe", "version": "1.0.0", "min_server_version": "6.0.0",
    "webapp": {"bundle_path": "webapp/dist/main.js"},
    "settings_schema": {"settings": [{"key": "ApiSecret", "display_name": "API secret", "type": "text",
                                      "secret": True, "default": ""}]},
}
PG_UNIT = "omnibus-postgresql"


class FixtureError(RuntimeError):
    pass


def rb_string(text, pattern):
    """The string value of a simple gitlab.rb assignment or call, or None."""
    m = re.search(pattern + r"""\s*(?:=\s*)?['"]([^'"]*)['"]""", text, re.M)
    return m.group(1) if m else None


def rb_int(text, key):
    m = re.search(r"^\s*mattermost\['" + key + r"'\]\s*=\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


class Fixture:
    """The fixture, read and completed (nothing in the fixture directory is changed)."""

    def __init__(self, path):
        self.path = Path(path)
        rb = self.path / "etc/gitlab/gitlab.rb"
        if not rb.is_file():
            raise FixtureError(f"{rb}: an Omnibus fixture needs etc/gitlab/gitlab.rb")
        self.gitlab_rb = rb.read_text()
        self.url = rb_string(self.gitlab_rb, r"^\s*mattermost_external_url")
        self.gitlab_url = rb_string(self.gitlab_rb, r"^\s*external_url")
        if not self.url or not self.gitlab_url:
            raise FixtureError(f"{rb}: the harness needs external_url and mattermost_external_url")
        self.uid = rb_int(self.gitlab_rb, "uid") or DEFAULT_UID
        self.gid = rb_int(self.gitlab_rb, "gid") or self.uid
        secrets_path = self.path / "etc/gitlab/gitlab-secrets.json"
        self.secrets_json = json.loads(secrets_path.read_text()) if secrets_path.exists() else None
        section = (self.secrets_json or {}).get("mattermost")
        self.gitlab_19 = self.secrets_json is not None and section is None
        self.mattermost_secrets = section or {
            "email_invite_salt": secrets.token_hex(16),
            "file_public_link_salt": secrets.token_hex(16),
            "sql_at_rest_encrypt_key": secrets.token_hex(16),
            "gitlab_id": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
            "gitlab_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
            "register_as_oauth_app": True,
            "gitlab_enable": True,
        }
        self.backups = sorted((self.path / "etc/gitlab/config_backup").glob("gitlab_config_*.tar"))
        # Not part of the Omnibus host: how the harness shapes the new host for this fixture.
        knobs = self.path / "system-test.json"
        extra = json.loads(knobs.read_text()) if knobs.exists() else {}
        # An account of the new host that already holds the old uid/gid (the guide's
        # "the uid is taken" path).
        self.uid_holder = extra.get("new_host_account_holding_the_uid")
        # The address the new host serves, when the move changes it.
        self.new_url = extra.get("new_url")
        # Mattermost stays on the host that runs GitLab: no second host, Omnibus's own nginx
        # (holding 80 and 443 for GitLab) serves the new Mattermost too.
        self.same_host = bool(extra.get("same_host"))
        # The Debian suite of each host (trixie: Debian 13, PostgreSQL 17; bookworm: 15).
        self.old_suite = extra.get("old_host_suite", "trixie")
        self.new_suite = extra.get("new_host_suite", "trixie")

    @property
    def host(self):
        return re.sub(r"^https?://", "", self.url).split("/")[0].split(":")[0]

    @property
    def new_host(self):
        return re.sub(r"^https?://", "", self.new_url).split("/")[0].split(":")[0] if self.new_url else None

    @property
    def gitlab_host(self):
        return re.sub(r"^https?://", "", self.gitlab_url).split("/")[0].split(":")[0]

    def variant(self):
        parts = ["GitLab 19 (no mattermost section in gitlab-secrets.json)" if self.gitlab_19
                 else "GitLab 18"]
        parts.append(f"mattermost uid {self.uid}")
        if self.uid_holder:
            parts.append(f"held on the new host by {self.uid_holder}")
        if self.new_url:
            parts.append(f"moving to {self.new_url}")
        if self.same_host:
            parts.append(f"staying on the same host (Debian {self.old_suite})")
        else:
            parts.append(f"Debian {self.old_suite} → {self.new_suite}")
        return ", ".join(parts)

    def gitlab_secrets(self, default=None):
        """gitlab-secrets.json as Omnibus leaves it on this host: the fixture's file (or
        `default` without one), with its mattermost section unless GitLab 19 dropped it."""
        doc = dict(self.secrets_json or default or {})
        if not self.gitlab_19:
            doc["mattermost"] = self.mattermost_secrets
        return doc

    def env(self):
        """The env directory Omnibus wrote (MattermostHelper.get_env_variables)."""
        s = self.mattermost_secrets
        g = self.gitlab_url.rstrip("/")
        name = rb_string(self.gitlab_rb, r"^\s*mattermost\['team_site_name'\]") or "GitLab Mattermost"
        return {
            "MM_SERVICESETTINGS_SITEURL": self.url,
            "MM_SERVICESETTINGS_LISTENADDRESS": "127.0.0.1:8065",
            # Puma ran on this node: its host appended, with Omnibus's leading space.
            "MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS": f" {self.gitlab_host}",
            "MM_SERVICESETTINGS_ENABLEAPITEAMDELETION": "true",
            "MM_TEAMSETTINGS_SITENAME": name,
            "MM_SQLSETTINGS_DRIVERNAME": "postgres",
            "MM_SQLSETTINGS_DATASOURCE":
                f"user=gitlab_mattermost host={PG_DIR} port=5432 dbname=mattermost_production",
            "MM_SQLSETTINGS_ATRESTENCRYPTKEY": s["sql_at_rest_encrypt_key"],
            "MM_LOGSETTINGS_FILELOCATION": "/var/log/gitlab/mattermost",
            "MM_FILESETTINGS_DIRECTORY": f"{HOME}/data",
            "MM_GITLABSETTINGS_ENABLE": "true",
            "MM_GITLABSETTINGS_SECRET": s["gitlab_secret"],
            "MM_GITLABSETTINGS_ID": s["gitlab_id"],
            "MM_GITLABSETTINGS_SCOPE": "",
            "MM_GITLABSETTINGS_AUTHENDPOINT": f"{g}/oauth/authorize",
            "MM_GITLABSETTINGS_TOKENENDPOINT": f"{g}/oauth/token",
            "MM_GITLABSETTINGS_USERAPIENDPOINT": f"{g}/api/v4/user",
            "MM_PLUGINSETTINGS_DIRECTORY": f"{HOME}/plugins",
            "MM_PLUGINSETTINGS_CLIENTDIRECTORY": f"{HOME}/client-plugins",
            "MM_INSTALL_TYPE": "gitlab_omnibus",
        }

    def oauth_application(self):
        """The application Omnibus's `authorize mattermost with gitlab` created."""
        url = self.url.rstrip("/")
        return {
            "id": 1,
            "application_id": self.mattermost_secrets["gitlab_id"],
            "application_name": "GitLab Mattermost",
            "secret": self.mattermost_secrets["gitlab_secret"],
            "redirect_uris": [f"{url}/signup/gitlab/complete", f"{url}/login/gitlab/complete"],
            "scopes": "",
            "confidential": True,
            "trusted": False,
        }


def config_backup_tar(fixture_json):
    """A tar as `gitlab-ctl backup-etc` writes it: /etc/gitlab with absolute names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in (("/etc/gitlab/gitlab-secrets.json", json.dumps(fixture_json, indent=2)),
                              ("/etc/gitlab/gitlab.rb", "# as before the upgrade\n")):
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_host(container, fixture, release_tarball_glob, transfer_dir):
    """Makes the container the Omnibus host of `fixture` and starts its Mattermost."""
    step(f"making an Omnibus-shaped host ({fixture.variant()}) from {fixture.path}")
    c = container
    c.sh(f"""
groupadd --system --gid {fixture.gid} mattermost
useradd --system --uid {fixture.uid} --gid {fixture.gid} --home-dir {HOME} --shell /usr/sbin/nologin mattermost
groupadd --system --gid {PSQL_UID} gitlab-psql
useradd --system --uid {PSQL_UID} --gid {PSQL_UID} --home-dir {PG_DIR} --shell /bin/sh gitlab-psql
mkdir -p /etc/gitlab/config_backup /etc/gitlab/ssl {HOME}/data {HOME}/plugins {HOME}/client-plugins \
  /var/log/gitlab/mattermost {ENV_DIR} {EMBEDDED}/bin {EMBEDDED}/service {PG_DIR}
chown -R mattermost:mattermost {HOME} /var/log/gitlab/mattermost
chown gitlab-psql:gitlab-psql {PG_DIR}
chmod 0700 /etc/gitlab/config_backup
""")
    c.write("/etc/gitlab/gitlab.rb", fixture.gitlab_rb, 0o600)
    secrets_doc = fixture.gitlab_secrets(default={"gitlab_rails": {"secret_key_base": secrets.token_hex(64)}})
    c.write("/etc/gitlab/gitlab-secrets.json", json.dumps(secrets_doc, indent=2) + "\n", 0o600)
    for tar in fixture.backups:
        place_backup(c, transfer_dir, tar.name, tar.read_bytes())
    if fixture.gitlab_19 and not fixture.backups:
        # The 19 upgrade's preinst took this backup before reconfigure dropped the section.
        before = dict(secrets_doc, mattermost=fixture.mattermost_secrets)
        name = f"gitlab_config_{int(time.time()) - 86400}_2026_05_20.tar"
        place_backup(c, transfer_dir, name, config_backup_tar(before))
    config_json = fixture.path / "var/opt/gitlab/mattermost/config.json"
    if config_json.exists():
        c.write(f"{HOME}/config.json", config_json.read_text(), 0o600)
        c.run(["chown", "mattermost:mattermost", f"{HOME}/config.json"])
    for name, value in fixture.env().items():
        c.write(f"{ENV_DIR}/{name}", value)
    plugin = f"{HOME}/plugins/{PLUGIN_ID}"
    c.write(f"{plugin}/plugin.json", json.dumps(PLUGIN_MANIFEST, indent=2) + "\n")
    c.write(f"{plugin}/webapp/dist/main.js", "window.registerPlugin('" + PLUGIN_ID + "', {initialize() {}});\n")
    # Installed plugins also live in the file store (data/plugins/<id>.tar.gz), from which
    # Mattermost restores its plugin directory at start.
    c.sh(f"mkdir -p {HOME}/data/plugins && tar -C {HOME}/plugins -czf {HOME}/data/plugins/{PLUGIN_ID}.tar.gz {PLUGIN_ID}")
    c.run(["chown", "-R", "mattermost:mattermost", f"{HOME}/plugins", f"{HOME}/data"])
    start_postgresql(c)
    install_mattermost(c, release_tarball_glob)
    install_gitlab_ctl(c)
    c.run(["systemctl", "start", MATTERMOST_UNIT])


def place_backup(c, transfer_dir, name, data):
    """A config backup into /etc/gitlab/config_backup (0600, as backup-etc leaves it), through
    the transfer directory, which keeps no copy."""
    staged = Path(transfer_dir) / name
    staged.touch(mode=0o600)
    staged.write_bytes(data)
    c.run(["install", "-m", "0600", f"{TRANSFER_IN_CONTAINER}/{name}", f"/etc/gitlab/config_backup/{name}"])
    staged.unlink()


def start_postgresql(c):
    """Omnibus's cluster: its own data directory and socket, no TCP, peer map `gitlab`."""
    pg_bin = c.sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1").stdout.strip()
    c.run(["runuser", "-u", "gitlab-psql", "--", f"{pg_bin}/initdb", "--username=gitlab-psql",
           "--auth-local=peer", "--auth-host=reject", "--encoding=UTF8", "--locale=C.UTF-8",
           "-D", f"{PG_DIR}/data"])
    c.write(f"{PG_DIR}/data/pg_hba.conf", "local all all peer map=gitlab\n", 0o600)
    c.write(f"{PG_DIR}/data/pg_ident.conf",
            "gitlab gitlab-psql gitlab-psql\ngitlab mattermost gitlab_mattermost\n", 0o600)
    c.sh(f"chown gitlab-psql:gitlab-psql {PG_DIR}/data/pg_hba.conf {PG_DIR}/data/pg_ident.conf")
    c.write(f"/etc/systemd/system/{PG_UNIT}.service", f"""\
[Unit]
Description=Omnibus's PostgreSQL (system test)
[Service]
User=gitlab-psql
ExecStart={pg_bin}/postgres -D {PG_DIR}/data -c listen_addresses= -c unix_socket_directories={PG_DIR} -c port=5432
[Install]
WantedBy=multi-user.target
""")
    c.run(["systemctl", "daemon-reload"])
    c.run(["systemctl", "start", PG_UNIT])
    c.sh(f"for i in $(seq 100); do test -S {PG_DIR}/.s.PGSQL.5432 && exit 0; sleep 0.2; done; exit 1")
    psql = ["runuser", "-u", "gitlab-psql", "--", f"{pg_bin}/psql", "-h", PG_DIR, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-c"]
    c.run(psql + ["CREATE ROLE gitlab_mattermost LOGIN"])
    c.run(["runuser", "-u", "gitlab-psql", "--", f"{pg_bin}/createdb", "-h", PG_DIR,
           "-O", "gitlab_mattermost", "mattermost_production"])


def install_mattermost(c, release_tarball_glob):
    c.sh(f"""
mkdir -p /tmp/omnibus-mm && tar --no-same-owner -xzf {release_tarball_glob} -C /tmp/omnibus-mm
rm -rf {EMBEDDED}/service/mattermost && mv /tmp/omnibus-mm/mattermost {EMBEDDED}/service/mattermost
ln -sf {EMBEDDED}/service/mattermost/bin/mattermost {EMBEDDED}/bin/mattermost
""")
    # sv-mattermost-run.erb: cd, then chpst -e <env dir> -U mattermost:mattermost.
    c.write(f"{EMBEDDED}/bin/omnibus-mattermost-run", f"""#!/bin/bash
cd {EMBEDDED}/service/mattermost
for f in {ENV_DIR}/*; do
  name=$(basename "$f")
  if [ -s "$f" ]; then export "$name=$(head -n1 "$f")"; else unset "$name"; fi
done
exec setpriv --reuid=mattermost --regid=mattermost --init-groups {EMBEDDED}/bin/mattermost --config {HOME}/config.json
""", 0o755)
    c.write(f"/etc/systemd/system/{MATTERMOST_UNIT}.service", f"""\
[Unit]
Description=Omnibus's Mattermost (system test; runit ran it)
After={PG_UNIT}.service
[Service]
ExecStart={EMBEDDED}/bin/omnibus-mattermost-run
Restart=on-failure
[Install]
WantedBy=multi-user.target
""")
    c.run(["systemctl", "daemon-reload"])


NGINX_CONF = "/var/opt/gitlab/nginx/conf"
NGINX_UNIT = "omnibus-nginx"


def install_gitlab_ctl(c):
    # `reconfigure` does what Omnibus's does to its nginx: the Mattermost vhost only while
    # gitlab.rb sets mattermost_external_url, and nginx['custom_nginx_config'] inside http.
    c.write("/usr/bin/gitlab-ctl", f"""#!/bin/bash
# The system test's gitlab-ctl: only what the migration guide uses.
set -euo pipefail
reconfigure() {{
  [ -d {NGINX_CONF} ] || {{ echo "gitlab-ctl (system test): Omnibus's nginx is not used on this host" >&2; exit 64; }}
  custom=$(sed -n "s/^nginx\\['custom_nginx_config'\\] *= *\\"\\(.*\\)\\" *$/\\1/p" /etc/gitlab/gitlab.rb | tail -n 1)
  {{
    echo "# Rendered by gitlab-ctl reconfigure (system test)."
    echo "pid /run/{NGINX_UNIT}.pid;"
    echo "error_log /var/log/gitlab/nginx/error.log;"
    echo "events {{ worker_connections 1024; }}"
    echo "http {{"
    echo "  include /etc/nginx/mime.types;"
    echo "  access_log /var/log/gitlab/nginx/access.log;"
    echo "  map \\$http_upgrade \\$connection_upgrade {{ default upgrade; '' close; }}"
    echo "  include {NGINX_CONF}/gitlab-http.conf;"
    if grep -q '^mattermost_external_url' /etc/gitlab/gitlab.rb; then
      echo "  include {NGINX_CONF}/service_conf/gitlab-mattermost.conf;"
    fi
    if [ -n "$custom" ]; then echo "  $custom"; fi
    echo "}}"
  }} > {NGINX_CONF}/nginx.conf.new
  nginx -t -q -c {NGINX_CONF}/nginx.conf.new
  mv {NGINX_CONF}/nginx.conf.new {NGINX_CONF}/nginx.conf
  systemctl reload-or-restart {NGINX_UNIT}
  echo "gitlab Reconfigured!"
}}
case "$1 ${{2:-}}" in
  "stop mattermost") exec systemctl stop {MATTERMOST_UNIT} ;;
  "start mattermost") exec systemctl start {MATTERMOST_UNIT} ;;
  "status mattermost") exec systemctl status --no-pager {MATTERMOST_UNIT} ;;
  "reconfigure ") reconfigure ;;
  *) echo "gitlab-ctl (system test): unsupported: $*" >&2; exit 64 ;;
esac
""", 0o755)


def omnibus_nginx(c):
    """Omnibus's own nginx: a second nginx with its configuration in /var/opt/gitlab/nginx,
    holding 80 and 443; Debian's nginx, which the container tree has, is stopped."""
    c.run(["mkdir", "-p", f"{NGINX_CONF}/service_conf", "/var/log/gitlab/nginx"])
    # GitLab's own vhost: the stand-in's, which the harness put in Debian's conf.d.
    c.run(["cp", "/etc/nginx/conf.d/system-test-gitlab.conf", f"{NGINX_CONF}/gitlab-http.conf"])
    c.run(["systemctl", "disable", "--now", "nginx"])
    c.write(f"/etc/systemd/system/{NGINX_UNIT}.service", f"""\
[Unit]
Description=Omnibus's nginx (system test; runit ran it)
[Service]
Type=forking
PIDFile=/run/{NGINX_UNIT}.pid
ExecStart=/usr/sbin/nginx -c {NGINX_CONF}/nginx.conf
ExecReload=/bin/kill -HUP $MAINPID
[Install]
WantedBy=multi-user.target
""")
    c.write(f"{NGINX_CONF}/nginx.conf", "events {}\nhttp {}\n")
    c.run(["systemctl", "daemon-reload"])
    c.run(["gitlab-ctl", "reconfigure"])


def serve_vhost(c, fixture, certs_dir):
    """The vhost Omnibus's nginx served (nginx-gitlab-mattermost.conf.erb, in short), with
    the certificate at /etc/gitlab/ssl/<host>.crt as Omnibus looked for it."""
    host = fixture.host
    c.write(f"/etc/gitlab/ssl/{host}.crt", (Path(certs_dir) / f"{host}.pem").read_text())
    c.write(f"/etc/gitlab/ssl/{host}.key", (Path(certs_dir) / f"{host}.key").read_text(), 0o600)
    vhost = (f"{NGINX_CONF}/service_conf/gitlab-mattermost.conf" if fixture.same_host
             else "/etc/nginx/conf.d/omnibus-gitlab-mattermost.conf")
    c.run(["mkdir", "-p", str(Path(vhost).parent)])
    c.write(vhost, f"""\
# Omnibus's Mattermost vhost (system test).
upstream gitlab_mattermost {{ server 127.0.0.1:8065; }}
server {{
    listen 443 ssl;
    server_name {host};
    ssl_certificate /etc/gitlab/ssl/{host}.crt;
    ssl_certificate_key /etc/gitlab/ssl/{host}.key;
    client_max_body_size 0;
    location ~ /api/v[0-9]+/(users/)?websocket$ {{
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto https;
        proxy_pass http://gitlab_mattermost;
    }}
    location / {{
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;
        proxy_http_version 1.1;
        proxy_pass http://gitlab_mattermost;
    }}
}}
""")
    if fixture.same_host:
        omnibus_nginx(c)
    else:
        c.run(["nginx", "-t"])
        c.run(["systemctl", "reload", "nginx"])
