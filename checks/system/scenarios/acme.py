"""acme: Let's Encrypt's http-01 challenge through the installed vhost (`nginx.acme_webroot`),
as `certbot certonly --webroot -w <webroot>` relies on it (docs/certificates.md).

- the webroot exists after `apply` (systemd-tmpfiles from the rendering), root's, mode 0755;
- a challenge file placed where certbot writes it is fetched through nginx at
  `http://<host>/.well-known/acme-challenge/<token>`, byte for byte, by nginx's workers;
- with https, the plain-http server answers the challenge itself (200, not the 301 to https
  it gives every other path), and a token that is not there is nginx's 404, not a redirect.

The config runs as it is when it sets `nginx.acme_webroot` (examples/full.toml does); else the
scenario applies it with `--set` and applies the config as it was at the end.
"""

import re
import secrets

from harness.context import expect

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
