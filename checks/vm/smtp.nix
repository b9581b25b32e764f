# vm-smtp: Mattermost sends mail through an SMTP server that requires STARTTLS and
# authentication (mailpit): the admin's test mail and a password-reset mail arrive with the
# configured sender, and with batching on, two mentions arrive as one mail.
{ pkgs, helpers, ... }:
let
  inherit (helpers) certs;
  smtpUser = "mattermost";
  smtpPassword = "mailpit-vmtest-password";
in
{
  name = "gitlab-mattermost-smtp";

  nodes.mail = {
    imports = [ helpers.common ];
    # mailpit runs as a DynamicUser: everything it reads must be world-readable, as store
    # paths are.
    services.mailpit.instances.default = {
      smtp = "0.0.0.0:1025";
      listen = "0.0.0.0:8025";
      smtp-tls-cert = "${certs}/mail.test.pem";
      smtp-tls-key = "${certs}/mail.test.key";
      smtp-require-starttls = true;
      smtp-auth-file = "${pkgs.writeText "mailpit-auth" "${smtpUser}:${smtpPassword}\n"}";
    };
    networking.firewall.allowedTCPPorts = [
      1025
      8025
    ];
  };

  nodes.mattermost = {
    imports = [
      helpers.mattermost
      (helpers.secret {
        name = "smtp-password";
        source = pkgs.writeText "smtp-password" smtpPassword;
      })
    ];
    services.gitlab-mattermost.smtp = {
      enable = true;
      server = "mail.test";
      port = 1025;
      connectionSecurity = "STARTTLS";
      auth = true;
      username = smtpUser;
      passwordFile = helpers.secretPath "smtp-password";
      feedbackName = "Chat Robot";
      feedbackEmail = "robot@mattermost.test";
      batching = {
        enable = true;
        interval = 30;
      };
    };
  };

  testScript = ''
    ${helpers.pythonHelpers}
    import time

    PASSWORD = "Test-Passw0rd!"
    ADMIN = f"admin:{PASSWORD}"

    start_all()
    mail.wait_for_unit("mailpit-default.service")
    mail.wait_for_open_port(1025)
    mail.wait_for_open_port(8025)
    wait_for_mattermost(mattermost)


    def messages_to(address):
        listing = json.loads(
            mattermost.succeed("curl -sSf 'http://mail.test:8025/api/v1/messages?limit=500'")
        )
        return [
            message
            for message in listing["messages"]
            if any(to["Address"] == address for to in message["To"])
        ]


    def ids_to(address):
        return {message["ID"] for message in messages_to(address)}


    def wait_for_new_mail(address, known, timeout=300):
        """The mails to `address` that are not in `known`, once there is at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [m for m in messages_to(address) if m["ID"] not in known]
            if new:
                return new
            time.sleep(5)
        raise Exception(f"no new mail to {address} within {timeout} s")


    def assert_sender(message):
        assert message["From"]["Name"] == "Chat Robot", message["From"]
        assert message["From"]["Address"] == "robot@mattermost.test", message["From"]
        # mailpit records the SMTP AUTH user (releases that know the field).
        assert message.get("Username", "${smtpUser}") == "${smtpUser}", message


    create_user(mattermost, "admin", "admin@example.org", PASSWORD, admin=True)
    create_user(mattermost, "carol", "carol@example.org", PASSWORD)
    create_user(mattermost, "dave", "dave@example.org", PASSWORD)

    with subtest("the admin's test mail arrives (STARTTLS, authenticated)"):
        known = ids_to("admin@example.org")
        # No body: Mattermost then tests its current configuration.
        api(mattermost, "POST", "/api/v4/email/test", login=ADMIN)
        [message] = wait_for_new_mail("admin@example.org", known)
        assert_sender(message)

    with subtest("a password-reset mail arrives"):
        known = ids_to("carol@example.org")
        api(mattermost, "POST", "/api/v4/users/password/reset/send", body={"email": "carol@example.org"})
        [message] = wait_for_new_mail("carol@example.org", known)
        assert_sender(message)

    with subtest("with batching on, two mentions arrive as one mail"):
        mattermost.succeed("mattermost-admin team create --name smtp --display-name SMTP")
        mattermost.succeed("mattermost-admin team users add smtp admin dave")
        dave = api(mattermost, "GET", "/api/v4/users/username/dave", login=ADMIN)
        # A batch per minute instead of the default 15 (and "30" would mean no batching).
        api(
            mattermost,
            "PUT",
            f"/api/v4/users/{dave['id']}/preferences",
            login=ADMIN,
            body=[
                {
                    "user_id": dave["id"],
                    "category": "notifications",
                    "name": "email_interval",
                    "value": "60",
                }
            ],
        )
        channel = api(
            mattermost, "GET", "/api/v4/teams/name/smtp/channels/name/town-square", login=ADMIN
        )
        known = ids_to("dave@example.org")
        for marker in ("batch-one", "batch-two"):
            api(
                mattermost,
                "POST",
                "/api/v4/posts",
                login=ADMIN,
                body={"channel_id": channel["id"], "message": f"@dave {marker}"},
            )
        [message] = wait_for_new_mail("dave@example.org", known, timeout=600)
        assert_sender(message)
        full = json.loads(
            mattermost.succeed(f"curl -sSf http://mail.test:8025/api/v1/message/{message['ID']}")
        )
        text = full["Text"] + full["HTML"]
        assert "batch-one" in text and "batch-two" in text, text
        # Another batch interval passes without a second mail.
        time.sleep(90)
        new = ids_to("dave@example.org") - known
        assert new == {message["ID"]}, new
  '';
}
