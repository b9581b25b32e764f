"""oauth-login: "Sign in with GitLab" on Mattermost as a browser does it, without a browser.

Usage: oauth-login --gitlab URL --mattermost URL --user NAME --password PASSWORD
                   [--expect consent|trusted]

1. Sign in to GitLab with its form (CSRF token from the page, session cookie kept).
2. Open Mattermost's /oauth/gitlab/login, which redirects to GitLab's /oauth/authorize.
3. GitLab either shows the consent page (two forms: Authorize, and Deny with a hidden
   _method=delete; submit the one without _method) or, for a trusted application, a 200 page
   whose link leads back to Mattermost; either way the code reaches
   Mattermost's /signup/gitlab/complete, which signs the user in.
4. Check the Mattermost session: /api/v4/users/me is the GitLab user. Prints that user as JSON.
"""

import argparse
import json
import urllib.parse
from html.parser import HTMLParser

from common import fail, new_jar, opener, request


class Page(HTMLParser):
    """The forms (action, method, fields), links and CSRF meta token of an HTML page."""

    def __init__(self, html):
        super().__init__()
        self.forms = []
        self.links = []
        self.csrf = None
        self._form = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {
                "action": attrs.get("action", ""),
                "method": attrs.get("method", "get").lower(),
                "fields": {},
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attrs.get("name"):
            if attrs.get("type", "text") in ("hidden", "text", "password", "submit"):
                self._form["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "meta" and attrs.get("name") == "csrf-token":
            self.csrf = attrs.get("content")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def sign_in_to_gitlab(open_, gitlab, user, password):
    page = request(open_, "GET", f"{gitlab}/users/sign_in")
    if page.status != 200:
        fail(f"GitLab sign-in page: HTTP {page.status}")
    parsed = Page(page.body)
    token = parsed.csrf
    for form in parsed.forms:
        token = token or form["fields"].get("authenticity_token")
    if not token:
        fail("no CSRF token on GitLab's sign-in page")
    resp = request(
        open_,
        "POST",
        f"{gitlab}/users/sign_in",
        urllib.parse.urlencode(
            {
                "authenticity_token": token,
                "user[login]": user,
                "user[password]": password,
                "user[remember_me]": "0",
            }
        ),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    if resp.status != 200 or urllib.parse.urlsplit(resp.url).path == "/users/sign_in":
        fail(f"GitLab sign-in as {user} failed: HTTP {resp.status} at {resp.url}")
    print(f"signed in to GitLab as {user}")


def authorize(open_, gitlab, mattermost, start="/oauth/gitlab/login"):
    """Follows Mattermost's login (from `start`) into GitLab; returns (final response, what
    GitLab showed)."""
    resp = request(open_, "GET", f"{mattermost}{start}")
    if resp.url.startswith(mattermost):
        return resp, "redirect"
    if not resp.url.startswith(f"{gitlab}/oauth/authorize") or resp.status != 200:
        fail(f"expected GitLab's authorization page, got HTTP {resp.status} at {resp.url}")
    page = Page(resp.body)
    allow = [
        form
        for form in page.forms
        if form["method"] == "post"
        and urllib.parse.urlsplit(form["action"]).path == "/oauth/authorize"
        and "_method" not in form["fields"]
    ]
    if allow:
        form = allow[0]
        resp = request(
            open_,
            "POST",
            urllib.parse.urljoin(resp.url, form["action"]),
            urllib.parse.urlencode(form["fields"]),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return resp, "consent"
    back = [link for link in page.links if link.startswith(f"{mattermost}/")]
    if not back:
        fail(f"GitLab's page has neither an Authorize form nor a link to Mattermost: {resp.body[:2000]}")
    return request(open_, "GET", back[0]), "trusted"


def main():
    parser = argparse.ArgumentParser(prog="oauth-login")
    parser.add_argument("--gitlab", required=True)
    parser.add_argument("--mattermost", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--expect", choices=["consent", "trusted"])
    parser.add_argument("--start", default="/oauth/gitlab/login",
                        help="the path the sign-in starts at (Team Edition 11: /gitlab-sign-in)")
    args = parser.parse_args()
    gitlab, mattermost = args.gitlab.rstrip("/"), args.mattermost.rstrip("/")

    jar = new_jar()
    open_ = opener(jar)
    sign_in_to_gitlab(open_, gitlab, args.user, args.password)
    resp, shown = authorize(open_, gitlab, mattermost, args.start)
    print(f"GitLab showed: {shown}; ended at {resp.url} (HTTP {resp.status})")
    if args.expect == "consent" and shown != "consent":
        fail("expected GitLab to ask for consent")
    if args.expect == "trusted" and shown == "consent":
        fail("expected no consent page for a trusted application")
    if not resp.url.startswith(mattermost) or resp.status >= 400:
        fail(f"did not come back to Mattermost: HTTP {resp.status} at {resp.url}: {resp.body[:2000]}")
    if not any(cookie.name == "MMAUTHTOKEN" for cookie in jar):
        fail("Mattermost set no session cookie (MMAUTHTOKEN)")

    # Cookie sessions need X-Requested-With, as Mattermost's web app sends it.
    me = request(
        open_, "GET", f"{mattermost}/api/v4/users/me", headers={"X-Requested-With": "XMLHttpRequest"}
    )
    if me.status != 200:
        fail(f"/api/v4/users/me: HTTP {me.status}: {me.body}")
    user = me.json()
    if user.get("username") != args.user or user.get("auth_service") != "gitlab":
        fail(f"signed in as {user.get('username')!r} via {user.get('auth_service')!r}")
    print(json.dumps(user))


if __name__ == "__main__":
    main()
