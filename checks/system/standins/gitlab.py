"""A GitLab stand-in for the system test: the parts of GitLab that Mattermost's "Sign in with
GitLab" and `gitlab-mattermost gitlab register` talk to, enforcing what GitLab enforces.

GitLab itself cannot run on these machines, so this small server plays it, behind the
container's nginx (TLS) like GitLab's own workhorse. What it enforces, as GitLab (Doorkeeper)
does:
- the Applications API (`/api/v4/applications`) needs an administrator's token
  (`PRIVATE-TOKEN`): 401 without a valid token, 403 for a non-administrator's;
- `/oauth/authorize` needs a signed-in user (else a redirect to `/users/sign_in`), a known
  `client_id`, `response_type=code`, scopes the application has, and a `redirect_uri` equal to
  one of the application's registered URIs, character for character;
- the sign-in form and the consent form carry a CSRF token bound to the session cookie;
- `/oauth/token` checks the client id and secret (form fields or HTTP Basic), and the code:
  issued to this client for this redirect URI, not expired, and usable once;
- `/api/v4/user` answers only a valid Bearer token, with GitLab's user JSON;
- the project integrations API, as GitLab documents it: `GET /api/v4/projects/:id` (a
  numeric id or the URL-encoded path), and `GET`/`PUT`/`DELETE
  /api/v4/projects/:id/integrations/mattermost` and `/mattermost-slash-commands` with
  GitLab's field names. 401 without a valid token, 404 for a project the token's user cannot
  see, 403 for one it may see but not administer (the user token is a Developer of every
  project, the admin token administers all). A PUT needs `webhook` (or `token`), keeps what
  it leaves out (a new integration starts from GitLab's defaults) and refuses an attribute the
  Mattermost integration lacks (`alert_channel`); GET never shows the webhook or the token, as
  GitLab hides secret fields; DELETE keeps the record, inactive. `POST /api/v4/projects/:id/
  integrations/mattermost_slash_commands/trigger` needs a `token`, answers 404 for an unknown
  project, an inactive integration or a wrong token (GitLab finds the integration by its
  token), and otherwise like GitLab (`response_type`, `text`); every trigger is logged.

State (applications, tokens) is kept in a JSON file so that a restart keeps it.

Usage: gitlab.py --listen 127.0.0.1:8181 --state FILE --external-url https://gitlab.test
                 --admin-token-file F --user-token-file F
                 --user NAME --password-file F --email E --name "Full Name"
                 [--project group/project=7]...
"""

import argparse
import os
import base64
import html
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http import cookies

CODE_LIFETIME_S = 600

# GitLab's Mattermost notifications (Integrations::Mattermost, its BaseChatNotification
# SUPPORTED_EVENTS): the event switches its API declares, each with its default for a new
# integration (Integration's column defaults: deployment and incident off, the rest on), and
# the per-event channels it stores. GitLab has no alert events for Mattermost.
EVENTS = {"push": True, "tag_push": True, "issues": True, "confidential_issues": True,
          "merge_requests": True, "note": True, "confidential_note": True, "pipeline": True,
          "wiki_page": True, "deployment": False, "incident": False}
CHANNELS = ["push", "tag_push", "issue", "confidential_issue", "merge_request", "note",
            "confidential_note", "pipeline", "wiki_page", "deployment", "incident"]
# Declared by the API's channel list, but Integrations::Mattermost has no such property.
UNKNOWN_ATTRIBUTES = ["alert_channel"]
BRANCHES = ("all", "default", "protected", "default_and_protected")
# Fields GitLab never returns: the webhook, and `type: :password` fields.
SECRET_FIELDS = {"mattermost": ["webhook"], "mattermost-slash-commands": ["token"]}
TITLES = {"mattermost": "Mattermost notifications", "mattermost-slash-commands": "Mattermost slash commands"}


# Gitlab::Auth: the scopes an OAuth application may be granted, and what an authorization
# request without a scope gets (Doorkeeper's default_scopes).
SERVER_SCOPES = ("api", "read_api", "read_user", "read_repository", "write_repository",
                 "read_registry", "write_registry", "sudo", "admin_mode", "openid", "profile", "email")
DEFAULT_SCOPES = ("api",)


class State:
    """Applications and issued grants, persisted to a JSON file."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        self.applications = data.get("applications", [])
        self.next_id = data.get("next_id", 1)
        self.codes = data.get("codes", {})
        self.tokens = data.get("tokens", {})
        self.sessions = data.get("sessions", {})
        self.log = data.get("log", [])
        self.projects = data.get("projects", {})

    def save(self):
        # Root-only, as GitLab's database is: it holds application secrets.
        with open(os.open(self.path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(
                {
                    "applications": self.applications,
                    "next_id": self.next_id,
                    "codes": self.codes,
                    "tokens": self.tokens,
                    "sessions": self.sessions,
                    "log": self.log[-500:],
                    "projects": self.projects,
                },
                f,
                indent=1,
            )


        os.replace(self.path + ".tmp", self.path)


def public_application(app):
    """An application as GitLab lists it: never the secret."""
    return {
        "id": app["id"],
        "application_id": app["application_id"],
        "application_name": app["application_name"],
        "callback_url": "\n".join(app["redirect_uris"]),
        "confidential": app["confidential"],
        "scopes": app["scopes"],
    }


def make_handler(args, state, user):
    admin_token = read_secret(args.admin_token_file)
    user_token = read_secret(args.user_token_file) if args.user_token_file else None
    password = read_secret(args.password_file)

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "gitlab-standin"
        protocol_version = "HTTP/1.1"

        def log_request(self, code="-", size="-"):
            # Never the query string: it carries codes and states.
            sys.stderr.write(f"{self.command} {self.path.split('?')[0]} {code}\n")

        # ---- plumbing -------------------------------------------------------------------
        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def form(self):
            raw = self.body().decode()
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/json"):
                try:
                    return {k: str(v) if not isinstance(v, list) else v for k, v in json.loads(raw or "{}").items()}
                except ValueError:
                    return None
            return {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

        def send(self, status, payload=None, headers=None, content_type="application/json"):
            data = b""
            if payload is not None:
                data = (json.dumps(payload) if content_type == "application/json" else payload).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if payload is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def redirect(self, location, headers=None):
            self.send(302, None, {"Location": location, **(headers or {})})

        def page(self, status, text, headers=None):
            self.send(status, text, headers, content_type="text/html; charset=utf-8")

        def record(self, event, **fields):
            state.log.append({"t": time.time(), "event": event, **fields})

        def session(self):
            jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
            sid = jar["_gitlab_session"].value if "_gitlab_session" in jar else None
            return sid, state.sessions.get(sid) if sid else None

        def new_session(self):
            sid = secrets.token_hex(16)
            state.sessions[sid] = {"csrf": secrets.token_urlsafe(24), "user": None, "return_to": None}
            return sid, state.sessions[sid]

        def cookie_header(self, sid):
            return {"Set-Cookie": f"_gitlab_session={sid}; Path=/; Secure; HttpOnly; SameSite=Lax"}

        def api_token(self):
            token = self.headers.get("PRIVATE-TOKEN")
            auth = self.headers.get("Authorization", "")
            if not token and auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            return token

        def url(self):
            return urllib.parse.urlsplit(self.path)

        # ---- routes -------------------------------------------------------------------
        def do_GET(self):
            with state.lock:
                self.route("GET")

        def do_POST(self):
            with state.lock:
                self.route("POST")

        def do_DELETE(self):
            with state.lock:
                self.route("DELETE")

        def do_PUT(self):
            with state.lock:
                self.route("PUT")

        def route(self, method):
            path = self.url().path
            try:
                if path == "/users/sign_in":
                    return self.sign_in_page() if method == "GET" else self.sign_in()
                if path == "/oauth/authorize":
                    return self.authorize() if method == "GET" else self.consent()
                if path == "/oauth/token" and method == "POST":
                    return self.token()
                if path == "/api/v4/user" and method == "GET":
                    return self.current_user()
                if path.startswith("/api/v4/applications"):
                    return self.applications(method, path)
                if path.startswith("/api/v4/projects/"):
                    return self.projects(method, path)
                if path == "/-/readiness":
                    return self.send(200, {"status": "ok"})
                if path == "/":
                    return self.page(200, "<html><body>GitLab stand-in</body></html>")
                self.send(404, {"message": "404 Not Found"})
            finally:
                state.save()

        # -- web sign-in
        def sign_in_page(self):
            sid, sess = self.session()
            if sess is None:
                sid, sess = self.new_session()
            token = html.escape(sess["csrf"])
            self.page(
                200,
                f'<html><head><meta name="csrf-token" content="{token}"></head><body>'
                '<form action="/users/sign_in" method="post">'
                f'<input type="hidden" name="authenticity_token" value="{token}">'
                '<input type="text" name="user[login]"><input type="password" name="user[password]">'
                '<input type="submit" name="commit" value="Sign in"></form></body></html>',
                self.cookie_header(sid),
            )

        def sign_in(self):
            sid, sess = self.session()
            form = self.form() or {}
            if sess is None or not secrets.compare_digest(form.get("authenticity_token", ""), sess["csrf"]):
                # GitLab answers a missing or wrong CSRF token with 422.
                return self.page(422, "<html><body>The change you requested was rejected.</body></html>")
            if form.get("user[login]") not in (user["username"], user["email"]) or not secrets.compare_digest(
                form.get("user[password]", ""), password
            ):
                self.record("sign-in-refused")
                return self.page(200, "<html><body><form action=\"/users/sign_in\" method=\"post\">"
                                 "Invalid login or password.</form></body></html>")
            # A new session id after sign-in, as Rails does.
            del state.sessions[sid]
            sid, sess = self.new_session()
            sess["user"] = user["username"]
            self.record("signed-in", user=user["username"])
            self.redirect(sess.get("return_to") or "/", self.cookie_header(sid))

        # -- OAuth
        def application_by_client_id(self, client_id):
            return next((a for a in state.applications if a["application_id"] == client_id), None)

        def authorize_error(self, app, redirect_uri, params, error, description):
            """Doorkeeper: an invalid client or redirect URI is shown as a page, never
            redirected to; other errors go back to the (valid) redirect URI."""
            self.record("authorize-refused", error=error)
            if app is None or redirect_uri not in app["redirect_uris"]:
                return self.page(400, f"<html><body><h1>An error has occurred</h1><p>{error}: "
                                      f"{html.escape(description)}</p></body></html>")
            query = urllib.parse.urlencode({"error": error, "error_description": description,
                                            "state": params.get("state", "")})
            return self.redirect(f"{redirect_uri}?{query}")

        def authorize_params(self, params):
            app = self.application_by_client_id(params.get("client_id", ""))
            redirect_uri = params.get("redirect_uri", "")
            if app is None:
                return None, ("invalid_client", "Client authentication failed due to unknown client.")
            if redirect_uri not in app["redirect_uris"]:
                return app, ("invalid_redirect_uri", "The redirect URI included is not valid.")
            if params.get("response_type") != "code":
                return app, ("unsupported_response_type", "The authorization server does not support this response type.")
            # Doorkeeper: no scope asked for means GitLab's default scopes (`api`); an
            # application registered without scopes (as Omnibus registered Mattermost) may be
            # granted any of the server's scopes, others only their own.
            requested = set((params.get("scope") or "").split()) or set(DEFAULT_SCOPES)
            allowed = set(app["scopes"].split())
            if not requested <= set(SERVER_SCOPES) or (allowed and not requested <= allowed):
                return app, ("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
            params["scope"] = " ".join(sorted(requested))
            return app, None

        def authorize(self):
            params = {k: v[-1] for k, v in urllib.parse.parse_qs(self.url().query).items()}
            sid, sess = self.session()
            if sess is None or not sess.get("user"):
                if sess is None:
                    sid, sess = self.new_session()
                sess["return_to"] = self.path
                return self.redirect("/users/sign_in", self.cookie_header(sid))
            app, problem = self.authorize_params(params)
            if problem:
                return self.authorize_error(app, params.get("redirect_uri", ""), params, *problem)
            if app.get("trusted"):
                return self.issue_code(app, params, sess)
            token = html.escape(sess["csrf"])
            hidden = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
                for name in ("client_id", "redirect_uri", "state", "response_type", "scope")
            )
            self.page(
                200,
                "<html><body><h3>Authorize " + html.escape(app["application_name"]) + " to use your account?</h3>"
                f'<form action="/oauth/authorize" method="post"><input type="hidden" name="authenticity_token" value="{token}">'
                f'{hidden}<input type="submit" value="Authorize"></form>'
                f'<form action="/oauth/authorize" method="post"><input type="hidden" name="_method" value="delete">'
                f'<input type="hidden" name="authenticity_token" value="{token}">{hidden}'
                '<input type="submit" value="Deny"></form></body></html>',
            )

        def consent(self):
            sid, sess = self.session()
            form = self.form() or {}
            if sess is None or not sess.get("user"):
                return self.redirect("/users/sign_in")
            if not secrets.compare_digest(form.get("authenticity_token", ""), sess["csrf"]):
                return self.page(422, "<html><body>The change you requested was rejected.</body></html>")
            app, problem = self.authorize_params(form)
            if problem:
                return self.authorize_error(app, form.get("redirect_uri", ""), form, *problem)
            if form.get("_method") == "delete":
                return self.authorize_error(app, form["redirect_uri"], form, "access_denied",
                                            "The resource owner or authorization server denied the request.")
            return self.issue_code(app, form, sess)

        def issue_code(self, app, params, sess):
            code = secrets.token_hex(32)
            state.codes[code] = {
                "client_id": app["application_id"],
                "redirect_uri": params["redirect_uri"],
                "user": sess["user"],
                "expires": time.time() + CODE_LIFETIME_S,
            }
            self.record("code-issued", client_id=app["application_id"])
            query = urllib.parse.urlencode({"code": code, "state": params.get("state", "")})
            self.redirect(f"{params['redirect_uri']}?{query}")

        def client_credentials(self, form):
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    raw = base64.b64decode(auth[6:]).decode()
                except ValueError:
                    return None, None
                client_id, _, secret = raw.partition(":")
                return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
            return form.get("client_id"), form.get("client_secret")

        def token(self):
            form = self.form() or {}
            client_id, secret = self.client_credentials(form)
            app = self.application_by_client_id(client_id or "")
            if app is None or not secrets.compare_digest(secret or "", app["secret"]):
                self.record("token-refused", error="invalid_client")
                return self.send(401, {"error": "invalid_client",
                                       "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."},
                                 {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_client"'})
            if form.get("grant_type") != "authorization_code":
                return self.send(400, {"error": "unsupported_grant_type",
                                       "error_description": "The authorization grant type is not supported by the authorization server."})
            grant = state.codes.pop(form.get("code", ""), None)
            if (grant is None or grant["client_id"] != app["application_id"]
                    or grant["redirect_uri"] != form.get("redirect_uri") or grant["expires"] < time.time()):
                self.record("token-refused", error="invalid_grant")
                return self.send(400, {"error": "invalid_grant",
                                       "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})
            access = secrets.token_hex(32)
            state.tokens[access] = {"user": grant["user"], "client_id": app["application_id"]}
            self.record("token-issued", client_id=app["application_id"])
            self.send(200, {"access_token": access, "token_type": "Bearer", "expires_in": 7200,
                            "refresh_token": secrets.token_hex(32), "scope": app["scopes"],
                            "created_at": int(time.time())},
                      {"Cache-Control": "no-store", "Pragma": "no-cache"})

        def current_user(self):
            token = self.api_token()
            grant = state.tokens.get(token or "")
            if grant is None and token not in (admin_token, user_token):
                return self.send(401, {"message": "401 Unauthorized"})
            self.record("user-read")
            self.send(200, {"id": user["id"], "username": user["username"], "name": user["name"],
                            "email": user["email"], "state": "active", "locked": False,
                            "avatar_url": "", "web_url": f"{args.external_url}/{user['username']}"})

        # -- Applications API (admin only)
        def applications(self, method, path):
            token = self.api_token()
            if not token or token not in (admin_token, user_token):
                return self.send(401, {"message": "401 Unauthorized"})
            if token != admin_token:
                return self.send(403, {"message": "403 Forbidden"})
            parts = path.rstrip("/").split("/")[4:]  # after /api/v4/applications
            if method == "GET" and not parts:
                return self.send(200, [public_application(a) for a in state.applications])
            if method == "POST" and not parts:
                return self.create_application()
            app = next((a for a in state.applications if parts and str(a["id"]) == parts[0]), None)
            if app is None:
                return self.send(404, {"message": "404 Application Not Found"})
            if method == "DELETE" and len(parts) == 1:
                state.applications.remove(app)
                self.record("application-deleted", id=app["id"])
                return self.send(204)
            if method == "POST" and parts[1:] == ["renew-secret"]:
                app["secret"] = "gloas-" + secrets.token_hex(32)
                self.record("application-secret-renewed", id=app["id"])
                return self.send(201, {**public_application(app), "secret": app["secret"]})
            self.send(404, {"message": "404 Not Found"})

        # -- Projects and their Mattermost integrations
        def find_project(self, ref):
            ref = urllib.parse.unquote(ref)
            return next((p for p in state.projects.values()
                         if str(p["id"]) == ref or p["path_with_namespace"] == ref), None)

        def projects(self, method, path):
            # /api/v4/projects/:id[/integrations/:slug[/trigger]]; the path is split on the raw
            # (still encoded) URL, so `group%2Fproject` stays one segment.
            parts = path.split("/")[4:]
            if len(parts) >= 4 and parts[1:3] == ["integrations", "mattermost_slash_commands"] \
                    and parts[3:] == ["trigger"] and method == "POST":
                return self.trigger(parts[0])
            token = self.api_token()
            if not token or token not in (admin_token, user_token):
                return self.send(401, {"message": "401 Unauthorized"})
            project = self.find_project(parts[0]) if parts else None
            if project is None:
                return self.send(404, {"message": "404 Project Not Found"})
            if len(parts) == 1 and method == "GET":
                return self.send(200, {"id": project["id"], "name": project["path_with_namespace"].rsplit("/", 1)[-1],
                                       "path_with_namespace": project["path_with_namespace"],
                                       "web_url": f"{args.external_url}/{project['path_with_namespace']}"})
            if len(parts) == 3 and parts[1] == "integrations" and parts[2] in SECRET_FIELDS:
                if token != admin_token:
                    # A Developer sees the project but may not administer its integrations.
                    return self.send(403, {"message": "403 Forbidden"})
                return self.integration(method, project, parts[2])
            self.send(404, {"message": "404 Not Found"})

        def integration(self, method, project, slug):
            # Reading never changes the state: the scenario compares it around a dry run.
            found = project.get("integrations", {}).get(slug)
            if method == "GET":
                if found is None:
                    return self.send(404, {"message": "404 Integration Not Found"})
                return self.send(200, self.public_integration(slug, found))
            if method == "DELETE":
                if found is None:
                    return self.send(404, {"message": "404 Integration Not Found"})
                # GitLab keeps the record: inactive, its properties back to their defaults
                # (the event switches stay as they were).
                found["active"] = False
                found["properties"] = {k: None for k in found["properties"]}
                found.pop("webhook", None)
                found.pop("token", None)
                self.record("integration-deleted", project=project["id"], slug=slug)
                return self.send(204)
            if method != "PUT":
                return self.send(405, {"message": "405 Method Not Allowed"})
            form = self.form()
            if form is None:
                return self.send(400, {"message": "invalid JSON"})
            stored, problem = (self.mattermost_fields(form, found) if slug == "mattermost"
                               else self.slash_fields(form))
            if problem:
                return self.send(400, {"message": problem})
            project.setdefault("integrations", {})[slug] = stored
            self.record("integration-set", project=project["id"], slug=slug)
            self.send(200, self.public_integration(slug, stored))

        def mattermost_fields(self, form, found):
            """A PUT as GitLab applies it: `webhook` is required; what the form leaves out keeps
            its stored value, or a new integration's default."""
            webhook = form.get("webhook", "")
            parsed = urllib.parse.urlsplit(webhook)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                return None, "400 Bad request - webhook is missing or not a URL"
            unknown = [k for k in UNKNOWN_ATTRIBUTES if k in form]
            if unknown:
                return None, f"400 Bad request - unknown attribute '{unknown[0]}' for Integrations::Mattermost"
            branches = form.get("branches_to_be_notified", "default")
            if branches not in BRANCHES:
                return None, "400 Bad request - branches_to_be_notified does not have a valid value"
            flag = lambda v: str(v).lower() in ("true", "1")  # noqa: E731
            old = found or {"properties": {"username": None, "channel": None,
                                           "notify_only_broken_pipelines": True,
                                           "branches_to_be_notified": "default",
                                           "labels_to_be_notified": None,
                                           "labels_to_be_notified_behavior": "match_any",
                                           **{f"{c}_channel": None for c in CHANNELS}},
                            **{f"{e}_events": on for e, on in EVENTS.items()}}
            props = dict(old["properties"])
            for key in ("username", "channel", *(f"{c}_channel" for c in CHANNELS)):
                if key in form:
                    props[key] = form[key] or None
            if "notify_only_broken_pipelines" in form:
                props["notify_only_broken_pipelines"] = flag(form["notify_only_broken_pipelines"])
            if "branches_to_be_notified" in form:
                props["branches_to_be_notified"] = branches
            stored = {"active": True, "webhook": webhook, "properties": props}
            for event in EVENTS:
                key = f"{event}_events"
                stored[key] = flag(form[key]) if key in form else old[key]
            return stored, None

        def slash_fields(self, form):
            token = form.get("token", "")
            if not token:
                return None, "400 Bad request - token is missing"
            return {"active": True, "token": token, "properties": {}}, None

        def public_integration(self, slug, stored):
            shown = {k: v for k, v in stored.items() if k not in SECRET_FIELDS[slug]}
            return {"id": 1, "title": TITLES[slug], "slug": slug, **shown}

        def trigger(self, ref):
            project = self.find_project(ref)
            form = self.form() or {}
            if not form.get("token"):
                return self.send(400, {"error": "token is missing"})
            configured = (project or {}).get("integrations", {}).get("mattermost-slash-commands")
            # GitLab looks the integration up by its token among the project's active ones:
            # an unknown project, an inactive integration and a wrong token all answer 404.
            if project is None or configured is None or not configured["active"] \
                    or not secrets.compare_digest(form["token"], configured.get("token", "")):
                if project is not None:
                    self.record("slash-command-refused", project=project["id"])
                return self.send(404, {"message": "404 Integration Not Found"})
            self.record("slash-command-triggered", project=project["id"], command=form.get("command"),
                        text=form.get("text"), user_name=form.get("user_name"),
                        channel_id=form.get("channel_id"))
            self.send(200, {"response_type": "ephemeral",
                            "text": f"Available commands for {project['path_with_namespace']}: "
                                    "issue new, issue show, issue search, deploy"})

        def create_application(self):
            form = self.form()
            if form is None:
                return self.send(400, {"error": "invalid JSON"})
            missing = [k for k in ("name", "redirect_uri", "scopes") if not form.get(k)]
            if missing:
                return self.send(400, {"error": f"{', '.join(missing)} is missing"})
            uris = form["redirect_uri"].split()
            for uri in uris:
                parsed = urllib.parse.urlsplit(uri)
                if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.fragment:
                    return self.send(400, {"message": {"redirect_uri": ["must be an absolute URI."]}})
            confidential = str(form.get("confidential", "true")).lower() != "false"
            app = {
                "id": state.next_id,
                "application_id": secrets.token_hex(32),
                "application_name": form["name"],
                "secret": "gloas-" + secrets.token_hex(32),
                "redirect_uris": uris,
                "scopes": " ".join(str(form["scopes"]).replace(",", " ").split()),
                "confidential": confidential,
                "trusted": False,
            }
            state.next_id += 1
            state.applications.append(app)
            self.record("application-created", id=app["id"])
            self.send(201, {**public_application(app), "secret": app["secret"]})

    return Handler


def read_secret(path):
    with open(path) as f:
        return f.read().strip()


def main():
    parser = argparse.ArgumentParser(prog="gitlab-standin")
    parser.add_argument("--listen", default="127.0.0.1:8181")
    parser.add_argument("--state", required=True)
    parser.add_argument("--external-url", required=True)
    parser.add_argument("--admin-token-file", required=True)
    parser.add_argument("--user-token-file")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--user-id", type=int, default=42)
    parser.add_argument("--project", action="append", default=[], metavar="PATH=ID",
                        help="a project to serve (repeatable), e.g. group/project=7")
    args = parser.parse_args()
    user = {"id": args.user_id, "username": args.user, "email": args.email, "name": args.name}
    state = State(args.state)
    for spec in args.project:
        path, _, number = spec.rpartition("=")
        if not path or not number.isdigit():
            parser.error(f"--project {spec!r}: expected PATH=ID")
        state.projects.setdefault(path, {"id": int(number), "path_with_namespace": path})
    state.save()
    host, _, port = args.listen.rpartition(":")
    server = http.server.ThreadingHTTPServer((host, int(port)), make_handler(args, state, user))
    print(f"gitlab stand-in listening on {args.listen}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
