"""HTTP helpers shared by the VM test clients: the standard library only, trusting the
system's CA bundle (where NixOS puts security.pki certificates)."""

import http.cookiejar
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

CA_FILE = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")


def tls_context():
    return ssl.create_default_context(cafile=CA_FILE)


def opener(jar=None):
    """An opener that follows redirects and keeps cookies in `jar`."""
    handlers = [urllib.request.HTTPSHandler(context=tls_context())]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    return urllib.request.build_opener(*handlers)


class Response:
    def __init__(self, url, status, headers, body):
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(open_, method, url, body=None, headers=None):
    """Sends a request; returns a Response for any status (errors included)."""
    data = None
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = body
    elif method in ("POST", "PUT"):
        data = b""  # an explicit Content-Length: 0
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with open_.open(req, timeout=60) as resp:
            return Response(resp.geturl(), resp.status, resp.headers, resp.read().decode())
    except urllib.error.HTTPError as err:
        return Response(err.geturl(), err.code, err.headers, err.read().decode())


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def new_jar():
    return http.cookiejar.CookieJar()
