"""ws-event: an authenticated Mattermost websocket through nginx, and a real event on it.

Usage: ws-event --url https://HOST --login USER:PASSWORD --channel CHANNEL_ID [--timeout S]

Signs in, opens wss://HOST/api/v4/websocket with the session token, waits for Mattermost's
`hello`, posts a message to CHANNEL_ID over the REST API and waits for the `posted` event
carrying that message. A raw TLS socket and RFC 6455 frames (standard library only), so the
test needs nothing but Python. Prints the event as JSON; exits 1 when it does not arrive.
"""

import argparse
import base64
import json
import os
import socket
import struct
import time
import urllib.parse

from common import fail, opener, request, tls_context
from mm_api import login


def handshake(url, token):
    host, port = url.hostname, url.port or 443
    raw = socket.create_connection((host, port), timeout=30)
    tls = tls_context().wrap_socket(raw, server_hostname=host)
    key = base64.b64encode(os.urandom(16)).decode()
    tls.sendall(
        (
            "GET /api/v4/websocket HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(1)
        if not chunk:
            fail("the server closed the connection during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status.startswith("HTTP/1.1 101"):
        fail(f"websocket handshake: {status}")
    return tls


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("websocket closed")
        data += chunk
    return data


def send_frame(sock, opcode, payload):
    """A client frame: FIN set, masked as RFC 6455 requires of clients."""
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def read_message(sock):
    """The next text message (fragments joined); answers pings on the way."""
    message = b""
    while True:
        first, second = read_exact(sock, 2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            length = struct.unpack("!H", read_exact(sock, 2))[0]
        elif length == 127:
            length = struct.unpack("!Q", read_exact(sock, 8))[0]
        payload = read_exact(sock, length)
        if opcode == 0x9:
            send_frame(sock, 0xA, payload)
            continue
        if opcode == 0x8:
            raise ConnectionError("websocket closed by the server")
        message += payload
        if first & 0x80 and opcode in (0x0, 0x1):
            return json.loads(message)


def main():
    parser = argparse.ArgumentParser(prog="ws-event")
    parser.add_argument("--url", required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    open_ = opener()
    token = login(open_, args.url, args.login)
    sock = handshake(url, token)
    deadline = time.monotonic() + args.timeout
    sock.settimeout(args.timeout)
    hello = read_message(sock)
    if hello.get("event") != "hello":
        fail(f"the first websocket message is not hello: {hello}")
    print("websocket hello from server", hello.get("data", {}).get("server_version", "?"))
    text = f"websocket probe {os.urandom(6).hex()}"
    resp = request(
        open_, "POST", f"{args.url}/api/v4/posts", {"channel_id": args.channel, "message": text},
        {"Authorization": f"Bearer {token}", "X-Requested-With": "XMLHttpRequest"},
    )
    if resp.status != 201:
        fail(f"POST /api/v4/posts: HTTP {resp.status}: {resp.body}")
    while time.monotonic() < deadline:
        event = read_message(sock)
        if event.get("event") != "posted":
            continue
        post = json.loads(event["data"]["post"])
        if post.get("message") == text:
            print(json.dumps({"event": "posted", "post_id": post["id"], "message": text}))
            return
    fail(f"no posted event for {text!r} within {args.timeout} s")


if __name__ == "__main__":
    main()
