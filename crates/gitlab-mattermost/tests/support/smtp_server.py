"""A real SMTP server for the doctor tests (aiosmtpd), in one of three modes:

plain     no TLS; AUTH allowed without TLS
starttls  STARTTLS required before anything else; AUTH only over TLS
tls       implicit TLS from the first byte (port-465 style); AUTH over it

Usage: smtp_server.py MODE PORT CERT KEY USER PASSWORD MAILBOX
Prints READY when listening; appends each received mail as a JSON line to MAILBOX.
"""
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, cert, key, user, password, mailbox = sys.argv[1:8]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(mailbox, "a") as f:
            f.write(json.dumps({
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "auth": session.authenticated,
                "data": envelope.content.decode("utf8", errors="replace"),
            }) + "\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    # handled=False: let aiosmtpd answer 535 itself on failure.
    return AuthResult(success=ok, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

kwargs = dict(
    hostname="127.0.0.1",
    port=int(port),
    authenticator=authenticator,
    # With implicit TLS aiosmtpd does not know the connection is encrypted (it only tracks
    # STARTTLS), so it would hide AUTH; the connection is TLS from the first byte anyway.
    auth_require_tls=(mode == "starttls"),
)
if mode == "starttls":
    kwargs.update(tls_context=context, require_starttls=True)
elif mode == "tls":
    kwargs.update(ssl_context=context)

controller = Controller(Handler(), **kwargs)
controller.start()
print("READY", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
