"""smtp: mail leaves through the configured SMTP server, in its security mode, with AUTH.

- `POST /api/v4/email/test` as a system admin arrives, authenticated with the password from
  the secret file (the SMTP server refuses any other);
- a direct message to an offline user produces a notification mail whose links use the
  site URL;
- with batching on (batching interval 30 s, the recipient's email_interval 60 s) two posts
  arrive as one batched mail within 3 minutes;
- signing up with email is refused while the GitLab user could sign up (oauth scenario).
"""

import email
import email.policy
import json
import re
import time

from harness import site as sites
from harness.context import expect

BATCH_INTERVAL_S = 30
USER_EMAIL_INTERVAL_S = 60


def run(ctx):
    smtp = ctx.site.smtp
    expect(smtp and ctx.site.env.get("MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS") == "true",
           "the config sends no mail (smtp.enable, smtp.send_notifications)")
    facts = [test_mail(ctx), notification(ctx)]
    if ctx.site.env.get("MM_EMAILSETTINGS_ENABLEEMAILBATCHING") == "true":
        facts.append(batched(ctx))
    facts.append(sign_up_policy(ctx))
    return "; ".join(facts)


def mails(ctx):
    """Every mail the SMTP stand-in received: (envelope, parsed message, decoded text)."""
    raw = ctx.container.run(["cat", sites.MAILBOX], check=False).stdout
    out = []
    for line in raw.splitlines():
        entry = json.loads(line)
        message = email.message_from_string(entry["data"], policy=email.policy.default)
        texts = [part.get_content() for part in message.walk()
                 if part.get_content_maintype() == "text"]
        out.append((entry, message, "\n".join(texts)))
    return out


def wait_for_mail(ctx, to, since, timeout, contains=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in mails(ctx)[since:] if to in m[0]["to"] and (contains is None or contains in m[2])]
        if found:
            return found
        time.sleep(2)
    return []


def test_mail(ctx):
    admin = ctx.admin_login
    before = len(mails(ctx))
    ctx.api("POST", "/api/v4/email/test", login=admin)
    got = wait_for_mail(ctx, "sysadmin@system-test.invalid", before, 60)
    expect(got, "the test mail did not arrive")
    entry = got[0][0]
    if ctx.site.smtp["auth"]:
        expect(entry["auth"], "the mail was sent without SMTP AUTH")
    mode = ctx.site.smtp["security"] or "plain"
    return f"test mail arrived over {mode} on port {ctx.site.smtp['port']}" + (" with AUTH" if entry["auth"] else "")


def make_user(ctx, name, email_interval):
    address = f"{name}@system-test.invalid"
    found = ctx.mmctl("user", "search", name, check=False)
    if name not in found.stdout:
        ctx.mmctl("user", "create", "--email", address, "--username", name, "--password",
                  "Us3r-" + name + "-pass", "--email-verified")
    user = ctx.api("GET", f"/api/v4/users/username/{name}", login=ctx.admin_login)
    ctx.api("PUT", f"/api/v4/users/{user['id']}/preferences",
            [{"user_id": user["id"], "category": "notifications", "name": "email_interval",
              "value": str(email_interval)}], login=ctx.admin_login)
    return user, address


def direct_message(ctx, user, text):
    me = ctx.api("GET", "/api/v4/users/me", login=ctx.admin_login)
    channel = ctx.api("POST", "/api/v4/channels/direct", [me["id"], user["id"]], login=ctx.admin_login)
    ctx.api("POST", "/api/v4/posts", {"channel_id": channel["id"], "message": text}, login=ctx.admin_login)


def notification(ctx):
    # email_interval 30 means "immediately" even with batching on.
    user, address = make_user(ctx, "bob", 30)
    before = len(mails(ctx))
    text = f"notification probe {time.time_ns()}"
    direct_message(ctx, user, text)
    got = wait_for_mail(ctx, address, before, 90)
    expect(got, f"no notification mail to {address} for a direct message")
    body = got[0][2]
    links = set(re.findall(r"https?://[^\s\"'<>]+", body))
    site = ctx.site.site_url
    expect(any(link.startswith(site + "/") or link == site for link in links),
           f"the notification mail links nowhere under the site URL {site}: {sorted(links)[:10]}")
    return f"a direct message to offline {user['username']} sent a notification mail linking to {site}"


def batched(ctx):
    interval = int(ctx.site.env.get("MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL", "30"))
    changed = interval != BATCH_INTERVAL_S
    if changed:
        ctx.reconfigure(f"smtp.batching.interval={BATCH_INTERVAL_S}")
    try:
        user, address = make_user(ctx, "carol", USER_EMAIL_INTERVAL_S)
        before = len(mails(ctx))
        texts = [f"batched probe one {time.time_ns()}", f"batched probe two {time.time_ns()}"]
        started = time.monotonic()
        for text in texts:
            direct_message(ctx, user, text)
        got = wait_for_mail(ctx, address, before, 180)
        expect(got, f"no batched mail to {address} within 3 minutes")
        seconds = time.monotonic() - started
        # A later second mail would mean the posts were not batched together.
        time.sleep(BATCH_INTERVAL_S + 10)
        to_user = [m for m in mails(ctx)[before:] if address in m[0]["to"]]
        expect(len(to_user) == 1, f"{len(to_user)} mails to {address}, expected one batch")
        body = to_user[0][2]
        expect(all(t in body for t in texts), "the batched mail does not hold both posts")
    finally:
        if changed:
            ctx.reconfigure()
    return f"two posts arrived as one batched mail after {seconds:.0f} s"


def sign_up_policy(ctx):
    attempt = ctx.api("POST", "/api/v4/users", {"email": "mallory@system-test.invalid",
                                                "username": "mallory", "password": "Mall0ry-pass-123"},
                      check=False)
    expect(not (isinstance(attempt, dict) and attempt.get("username") == "mallory"),
           "signing up with email was allowed")
    detail = attempt.get("id", "refused") if isinstance(attempt, dict) else "refused"
    gitlab_user = ctx.mmctl("user", "search", sites.GITLAB_USER["user"], check=False)
    if sites.GITLAB_USER["user"] in gitlab_user.stdout:
        return f"sign-up with email refused ({detail}) while the GitLab user signed up"
    return f"sign-up with email refused ({detail}); GitLab sign-up not exercised (run the oauth scenario)"
