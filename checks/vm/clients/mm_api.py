"""mm-api: one Mattermost REST call, optionally as a user signed in with a password.

Usage: mm-api [--url URL] [--login USER:PASSWORD] [--form-field NAME] METHOD PATH [BODY]

BODY is sent as it is (JSON text), or with --form-field as the one field of a form
(`NAME=<BODY>`, URL-encoded: how GitLab posts to an incoming webhook); without BODY the
request has an empty body, which POST /api/v4/email/test needs. Prints the response body;
exits 1 on a status >= 400.
"""

import argparse
import sys
import urllib.parse

from common import fail, opener, request


def login(open_, url, credentials):
    user, _, password = credentials.partition(":")
    resp = request(
        open_, "POST", f"{url}/api/v4/users/login", {"login_id": user, "password": password}
    )
    token = resp.headers.get("Token") if resp.status == 200 else None
    if not token:
        fail(f"login as {user} gave {resp.status}: {resp.body}")
    return token


def main():
    parser = argparse.ArgumentParser(prog="mm-api")
    parser.add_argument("--url", default="https://mattermost.test")
    parser.add_argument("--login")
    parser.add_argument("--form-field")
    parser.add_argument("method")
    parser.add_argument("path")
    parser.add_argument("body", nargs="?")
    args = parser.parse_args()

    open_ = opener()
    headers = {"X-Requested-With": "XMLHttpRequest"}
    if args.login:
        headers["Authorization"] = f"Bearer {login(open_, args.url, args.login)}"
    body = args.body
    if body is not None and args.form_field:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode({args.form_field: body})
    elif body is not None:
        headers["Content-Type"] = "application/json"
    resp = request(open_, args.method, args.url + args.path, body, headers)
    print(resp.body)
    if resp.status >= 400:
        print(f"{args.method} {args.path}: HTTP {resp.status}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
