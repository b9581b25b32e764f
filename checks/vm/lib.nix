# Pieces shared by the VM scenarios (one scenario per file in this folder).
{ pkgs, lib }:
rec {
  # A CA and certificates for the test hosts, made once at build time.
  certs = pkgs.runCommand "gitlab-mattermost-test-certs" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    bash ${./make-test-certs.sh} "$out" mattermost.test gitlab.test mail.test
  '';

  # GitLab as the VM scenarios run it (nixpkgs' own test values; one Puma worker pair, one
  # Sidekiq thread: enough for a test and light on the VM).
  gitlab = {
    enable = true;
    host = "gitlab.test";
    port = 443;
    https = true;
    databasePasswordFile = pkgs.writeText "dbPassword" "xo0daiF4";
    initialRootPasswordFile = pkgs.writeText "rootPassword" "notproduction";
    secrets = {
      secretFile = pkgs.writeText "secret" "r8X9keSKynU7p4aKlh4GO1Bo77g5a7vj";
      otpFile = pkgs.writeText "otpsecret" "Zu5hGx3YvQx40DvI8WoZJQpX2paSDOlG";
      dbFile = pkgs.writeText "dbsecret" "lsGltKWTejOf6JxCVa7nLDenzkO9wPLR";
      jwsFile = pkgs.runCommand "oidcKeyBase" { } "${pkgs.openssl}/bin/openssl genrsa 2048 > $out";
      activeRecordPrimaryKeyFile = pkgs.writeText "arprimary" "vMeLvcDSJh6nk4gDj3Fd5Hok1jOdbmB6";
      activeRecordDeterministicKeyFile = pkgs.writeText "ardeterministic" "kXM7Qh3c3UR1kVm4fLx8m8gVszd1R2eB";
      activeRecordSaltFile = pkgs.writeText "arsalt" "yCqTuxr7Ea5kFBLFYfDvQ1vZxVbHA0k7";
    };
    sidekiq.concurrency = 1;
    puma.workers = 2;
  };

  # The Python clients (standard library only), as commands.
  tool =
    name: file:
    pkgs.writeShellScriptBin name ''exec ${pkgs.python3}/bin/python3 ${./clients}/${file} "$@"'';
  tools = [
    (tool "mm-api" "mm_api.py")
    (tool "oauth-login" "oauth_login.py")
    (tool "websocket-upgrade" "websocket_upgrade.py")
    pkgs.curl
    pkgs.jq
  ];

  # Every node trusts the test CA and reaches the others as <node>.test.
  common =
    { nodes, ... }:
    {
      security.pki.certificateFiles = [ "${certs}/ca.pem" ];
      networking.hosts = lib.mapAttrs' (
        name: node: lib.nameValuePair node.networking.primaryIPAddress [ "${name}.test" ]
      ) nodes;
      environment.systemPackages = tools;
    };

  # A test secret at an absolute path outside the store's names (/etc/test-secrets/NAME),
  # readable by `user` only. Its content still comes from the store: fine for a test, the
  # reason to use sops-nix or agenix on a real host.
  secretPath = name: "/etc/test-secrets/${name}";
  secret =
    {
      name,
      source,
      user ? "root",
    }:
    {
      environment.etc."test-secrets/${name}" = {
        inherit source user;
        mode = "0400";
      };
    };

  # Mattermost through this module: https://mattermost.test via nginx, local PostgreSQL.
  mattermost =
    { config, ... }:
    {
      imports = [
        common
        (secret {
          name = "mattermost.test.key";
          source = "${certs}/mattermost.test.key";
          user = "nginx";
        })
      ];
      virtualisation.memorySize = 2048;
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://mattermost.test";
        openFirewall = true;
        # On a nixpkgs whose pkgs.mattermost is still the 10.11 ESR (nixos-25.11), say so
        # knowingly: the compiler refuses a line past its end of life otherwise.
        mattermost.allowEndOfLife =
          lib.versions.majorMinor config.services.gitlab-mattermost.package.version == "10.11";
        nginx = {
          certificate = "${certs}/mattermost.test.pem";
          certificateKey = secretPath "mattermost.test.key";
        };
        settings = {
          # The VMs have no internet: these would only run into timeouts.
          AnnouncementSettings = {
            AdminNoticesEnabled = false;
            UserNoticesEnabled = false;
          };
          ServiceSettings.EnableSecurityFixAlert = false;
          LogSettings.EnableDiagnostics = false;
          PluginSettings.AutomaticPrepackagedPlugins = false;
        };
      };
    };

  # Python for the test scripts: wait for Mattermost behind nginx, make users with
  # mattermost-admin (mmctl in local mode; no welcome mail, which would only disturb the mail
  # counts of vm-smtp), call the REST API.
  pythonHelpers = ''
    import json
    import shlex


    def wait_for_mattermost(node):
        node.wait_for_unit("mattermost.service", timeout=1800)
        node.wait_for_open_port(8065)
        node.wait_for_unit("nginx.service")
        node.wait_for_open_port(443)
        node.wait_until_succeeds("curl -sSf https://mattermost.test/api/v4/system/ping")


    def create_user(node, username, email, password, admin=False):
        node.succeed(
            "mattermost-admin user create --email-verified --disable-welcome-email"
            + f" --username {shlex.quote(username)} --email {shlex.quote(email)}"
            + f" --password {shlex.quote(password)}"
            + (" --system-admin" if admin else "")
        )


    def api(node, method, path, login=None, body=None):
        """Mattermost's REST API through nginx; returns the decoded JSON answer."""
        command = ["mm-api"]
        if login:
            command += ["--login", login]
        command += [method, path] + ([json.dumps(body)] if body is not None else [])
        out = node.succeed(shlex.join(command))
        return json.loads(out) if out.strip() else None
  '';
}
