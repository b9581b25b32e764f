"""websocket-upgrade: opens a WebSocket handshake to an https URL and checks the 101 answer.

Usage: websocket-upgrade https://HOST[:PORT]/PATH

Raw TLS socket rather than a WebSocket library, so that exactly the handshake is tested: the
status line must be 101 and Sec-WebSocket-Accept must answer the key (RFC 6455, 4.2.2).
"""

import base64
import hashlib
import os
import socket
import sys
import urllib.parse

from common import fail, tls_context

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    if url.scheme != "https":
        fail("give an https URL: the handshake is checked through nginx's TLS")
    host, port = url.hostname, url.port or 443
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {url.path or '/'} HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    )
    with socket.create_connection((host, port), timeout=30) as raw:
        with tls_context().wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
    print(lines[0])
    if not lines[0].startswith("HTTP/1.1 101"):
        fail(f"expected 101 Switching Protocols, got: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        fail(f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r} != {expected!r}")
    if headers.get("upgrade", "").lower() != "websocket":
        fail(f"Upgrade header {headers.get('upgrade')!r}")
    print("websocket upgrade ok")


if __name__ == "__main__":
    main()
