"""acme: Let's Encrypt's http-01 challenge through the installed vhost (`nginx.acme_webroot`),
as `certbot certonly --webroot -w <webroot>` relies on it (docs/certificates.md).

- the webroot exists after `apply` (systemd-tmpfiles from the rendering), root's, mode 0755;
- a challenge file placed where certbot writes it is fetched through nginx at
  `http://<host>/.well-known/acme-challenge/<token>`, byte for byte, by nginx's workers;
- with https, the plain-http server answers the challenge itself (200, not the 301 to https
  it gives every other path), and a token that is not there is nginx's 404, not a redirect.

With https, a real ACME exchange follows: Pebble (Let's Encrypt's test CA, built on the host
from its Go module, cached) runs in the container and validates through port 80, and Debian's
certbot does exactly what docs/certificates.md says:
- `certbot certonly --webroot -w <webroot> -d <host> --deploy-hook "systemctl reload nginx"`
  gets a certificate through the installed vhost;
- `apply` with `nginx.certificate`/`certificate_key` at certbot's live paths: nginx serves
  Pebble's certificate on https;
- `certbot renew --force-renewal` renews through the webroot while nginx serves https (the
  renewal needs nothing `apply` would undo), and its deploy hook reloads nginx onto the new
  certificate.
The config as it was is applied back at the end.

The config runs as it is when it sets `nginx.acme_webroot` (examples/full.toml does); else the
scenario applies it with `--set` and applies the config as it was at the end.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from harness.context import CONFIG_IN_CONTAINER, expect
from harness.log import step
from harness.omnibus import TRANSFER_IN_CONTAINER

PEBBLE_MODULE = "github.com/letsencrypt/pebble/v2"
PEBBLE_VERSION = "v2.10.3"

DEFAULT_WEBROOT = "/var/lib/gitlab-mattermost/acme"
VHOST = "/etc/gitlab-mattermost/nginx/mattermost.conf"


def run(ctx):
    sets = []
    vhost = ctx.container.run(["cat", VHOST]).stdout
    if "/.well-known/acme-challenge/" not in vhost:
        sets.append(f"nginx.acme_webroot={DEFAULT_WEBROOT}")
        if ctx.site.http_port is None:
            sets.append("nginx.redirect_http_to_https=true")
        ctx.reconfigure(*sets)
        vhost = ctx.container.run(["cat", VHOST]).stdout
    try:
        facts = challenges(ctx, vhost)
        if ctx.site.http_port is not None and "ssl_certificate" in vhost:
            facts += certbot_through_pebble(ctx, vhost, sets)
    finally:
        if sets:
            ctx.reconfigure()
    if sets:
        facts.append(f"(applied with {' '.join(sets)}, then without)")
    return "; ".join(facts)


def challenges(ctx, vhost):
    c = ctx.container
    found = re.search(r"location \^~ /\.well-known/acme-challenge/ \{\s*root (\S+);", vhost)
    expect(found, f"no challenge location with a root in the installed vhost:\n{vhost[-3000:]}")
    webroot = found.group(1).strip('"')
    facts = []

    owner_mode = c.run(["stat", "-c", "%U %a", webroot], check=False)
    expect(owner_mode.returncode == 0, f"apply left no webroot {webroot}: {owner_mode.stderr}")
    expect(owner_mode.stdout.split() == ["root", "755"],
           f"the webroot {webroot} is {owner_mode.stdout.strip()}, expected root 755")
    facts.append(f"apply created the webroot {webroot} (root, 0755)")

    # Where certbot --webroot puts it, as root with its umask 022.
    token = secrets.token_urlsafe(32)
    content = f"{token}.{secrets.token_urlsafe(32)}"
    challenge_dir = f"{webroot}/.well-known/acme-challenge"
    c.run(["mkdir", "-p", challenge_dir])
    c.write(f"{challenge_dir}/{token}", content)
    try:
        host = ctx.site.server_names[0]
        port = ctx.site.http_port
        base = f"http://{host}" + ("" if port in (None, 80) else f":{port}")
        url = f"{base}/.well-known/acme-challenge/{token}"
        got = c.run(["curl", "-sS", "-o", "/tmp/acme-challenge", "-w", "%{http_code} %{redirect_url}",
                     "--max-time", "10", url]).stdout.split()
        body = c.run(["cat", "/tmp/acme-challenge"]).stdout
        expect(got[:1] == ["200"], f"GET {url}: {got}, expected 200 from the webroot")
        expect(body == content, f"GET {url} answered {body[:200]!r}, not the challenge file")
        facts.append(f"GET {url} (token of {len(token)} characters) returned the challenge file byte for byte")

        missing = f"{base}/.well-known/acme-challenge/not-{token}"
        got = c.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                     "--max-time", "10", missing]).stdout.split()
        expect(got == ["404"], f"GET {missing}: {got}, expected nginx's 404 (no redirect)")
        if ctx.site.http_port is not None and re.search(r"return 301 https://", vhost):
            other = f"{base}/not-a-challenge"
            got = c.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                         other]).stdout.split()
            expect(got == ["301"], f"GET {other}: {got}, expected the redirect to https")
            facts.append("the https redirect server answers the challenge itself (200; a missing token 404) "
                         "and still redirects every other path (301)")
        else:
            facts.append("a missing token is nginx's 404")
    finally:
        c.run(["rm", "-rf", f"{webroot}/.well-known"], check=False)
    return facts


# ---- a real ACME exchange ---------------------------------------------------------------

def pebble_build():
    """Pebble, built on the host from its module (static: it runs in the container's Debian),
    cached beside the other system-test builds; and its module's test certificates."""
    default = Path.home() / ".cache/gitlab-mattermost/system-test"
    cache = Path(os.environ.get("GITLAB_MATTERMOST_SYSTEM_TEST_CACHE", default)) / f"pebble-{PEBBLE_VERSION}"
    binary = cache / "pebble"
    env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(cache), GOFLAGS="-mod=readonly")
    if not binary.exists():
        step(f"building Pebble {PEBBLE_VERSION} (go install)")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "install", "-trimpath", f"{PEBBLE_MODULE}/cmd/pebble@{PEBBLE_VERSION}"],
                       env=env, check=True, capture_output=True, text=True)
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    certs = Path(modcache) / f"github.com/letsencrypt/pebble/v2@{PEBBLE_VERSION}/test/certs"
    return binary, certs


def https_issuer(ctx, host, port):
    out = ctx.container.sh(
        f"openssl s_client -connect 127.0.0.1:{port} -servername {host} </dev/null 2>/dev/null"
        " | openssl x509 -noout -issuer -serial", check=False).stdout
    return out.strip()


def certbot_through_pebble(ctx, vhost, sets):
    """`sets`: the overrides the scenario applied the config with (a config without the
    webroot gets it so); every apply here keeps them."""
    c = ctx.container
    if c.run(["sh", "-c", "command -v certbot"], check=False).returncode != 0:
        return ["(no certbot in the container tree: the real ACME exchange was not run)"]
    binary, certs = pebble_build()
    transfer = Path(ctx.transfer)
    there = f"{TRANSFER_IN_CONTAINER}/pebble"
    (transfer / "pebble").mkdir(exist_ok=True)
    shutil.copy2(binary, transfer / "pebble/pebble")
    shutil.copy2(certs / "localhost/cert.pem", transfer / "pebble/cert.pem")
    shutil.copy2(certs / "localhost/key.pem", transfer / "pebble/key.pem")
    shutil.copy2(certs / "pebble.minica.pem", transfer / "pebble/minica.pem")
    host = ctx.site.server_names[0]
    webroot = re.search(r"location \^~ /\.well-known/acme-challenge/ \{\s*root (\S+);", vhost).group(1).strip('"')
    (transfer / "pebble/pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
        "certificate": f"{there}/cert.pem", "privateKey": f"{there}/key.pem",
        "httpPort": ctx.site.http_port, "tlsPort": 5001, "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}))
    facts = []
    c.run(["systemd-run", "--unit=system-test-pebble", "--setenv=PEBBLE_VA_NOSLEEP=1",
           "--setenv=PEBBLE_WFE_NONCEREJECT=0", "--setenv=PEBBLE_AUTHZREUSE=0",
           f"{there}/pebble", "-config", f"{there}/pebble.json"])
    try:
        deadline = time.monotonic() + 30
        while c.run(["curl", "-s", "-o", "/dev/null", "--cacert", f"{there}/minica.pem",
                     "https://localhost:14000/dir"], check=False).returncode != 0:
            expect(time.monotonic() < deadline, "Pebble did not answer on https://localhost:14000/dir:\n"
                   + ctx.journal("system-test-pebble"))
            time.sleep(0.5)
        env = {"REQUESTS_CA_BUNDLE": f"{there}/minica.pem"}
        server = ["--server", "https://localhost:14000/dir", "--non-interactive", "--agree-tos",
                  "--register-unsafely-without-email"]
        # docs/certificates.md's command, against Pebble instead of Let's Encrypt.
        got = c.run(["certbot", "certonly", "--webroot", "-w", webroot, "-d", host,
                     "--deploy-hook", "systemctl reload nginx", *server], env=env, check=False)
        expect(got.returncode == 0, f"certbot certonly --webroot failed:\n{got.stdout[-2000:]}\n{got.stderr[-3000:]}\n"
               + ctx.journal("system-test-pebble", 40))
        live = f"/etc/letsencrypt/live/{host}"
        issuer = c.run(["openssl", "x509", "-noout", "-issuer", "-in", f"{live}/fullchain.pem"]).stdout.strip()
        expect("Pebble" in issuer, f"{live}/fullchain.pem is not Pebble's: {issuer}")
        facts.append(f"certbot certonly --webroot -w {webroot} -d {host} got a certificate from Pebble "
                     "through the installed vhost")

        overrides = [a for o in sets for a in ("--set", o)]
        out = c.run(["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, "--no-doctor", *overrides,
                     "--set", f"nginx.certificate={live}/fullchain.pem",
                     "--set", f"nginx.certificate_key={live}/privkey.pem"], check=False)
        expect(out.returncode == 0, f"apply with certbot's paths failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        # `systemctl reload nginx` returns once the signal is sent: the old workers may take a
        # new connection for a moment more.
        deadline = time.monotonic() + 15
        while "Pebble" not in (first := https_issuer(ctx, host, ctx.site.https_port)):
            expect(time.monotonic() < deadline, f"nginx does not serve certbot's certificate on https: {first!r}")
            time.sleep(0.5)
        facts.append(f"apply with nginx.certificate at {live}: nginx serves it on https")

        # A renewal as certbot.timer runs it, while nginx serves https: through the webroot,
        # then the deploy hook reloads nginx onto the new certificate.
        # Without a terminal certbot renew first sleeps up to 8 minutes (spreading the load on
        # Let's Encrypt); the timer's runs keep that.
        got = c.run(["certbot", "renew", "--force-renewal", "--non-interactive", "--no-random-sleep-on-renew"],
                    env=env, check=False)
        expect(got.returncode == 0, f"certbot renew failed:\n{got.stdout[-2000:]}\n{got.stderr[-3000:]}")
        conf = c.run(["cat", f"/etc/letsencrypt/renewal/{host}.conf"]).stdout
        expect("authenticator = webroot" in conf and "renew_hook = systemctl reload nginx" in conf,
               f"the renewal configuration does not keep the webroot and the hook:\n{conf}")
        deadline = time.monotonic() + 15
        while (second := https_issuer(ctx, host, ctx.site.https_port)) == first:
            expect(time.monotonic() < deadline, f"nginx still serves the certificate before the renewal: {first!r}")
            time.sleep(0.5)
        expect("Pebble" in second, f"after the renewal nginx serves {second!r}")
        facts.append("certbot renew --force-renewal renewed through the webroot while nginx served https, "
                     "and its deploy hook reloaded nginx onto the new certificate (new serial)")
    finally:
        c.run(["systemctl", "stop", "system-test-pebble"], check=False)
        shutil.rmtree(transfer / "pebble", ignore_errors=True)
    # The config's own certificate again (the harness's clients trust its test CA).
    ctx.reconfigure()
    return facts
