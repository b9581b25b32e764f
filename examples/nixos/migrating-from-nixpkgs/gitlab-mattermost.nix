# Imported by `gitlab-mattermost import --nixpkgs-module` from mattermost.json.
# Review it with the import report, then put it in the host configuration in place of
# services.mattermost (docs/migrating-from-nixpkgs.md).
#
# (Here: what it writes for the nixpkgs host of
# crates/gitlab-mattermost/tests/fixtures/nixpkgs-module/peer-auth.json, with
# --gitlab-sign-in team-route --secrets-dir /var/lib/gitlab-mattermost-secrets.)
{
  services.gitlab-mattermost = {
    account = {
      gid = 254;
      group = "mattermost";
      uid = 254;
      user = "mattermost";
    };
    database = {
      kind = "local";
      name = "mattermost";
      socketDir = "/run/postgresql";
      user = "mattermost";
    };
    directories = {
      clientPlugins = "/var/lib/mattermost/data/.plugins/client";
      config = "/etc/mattermost";
      data = "/var/lib/mattermost";
      logs = "/var/log/mattermost";
      plugins = "/var/lib/mattermost/data/.plugins/server";
    };
    enable = true;
    environment = {
      GODEBUG = "tlsmlkem=0";
      https_proxy = "http://proxy.example.com:3128";
    };
    externalUrl = "https://chat.example.org";
    fileStorage = {
      directory = "/var/lib/mattermost/data";
      driver = "local";
    };
    gitlab = {
      allowTeamEditionRoute = true;
      enable = true;
      id = "0123456789abcdef0123456789abcdef";
      scope = "read_user";
      secretFile = "/var/lib/gitlab-mattermost-secrets/gitlab-secret";
      url = "https://git.example.org";
    };
    listen = {
      address = "127.0.0.1";
      port = 8065;
    };
    nginx = {
      enable = false;
    };
    settings = {
      LogSettings = {
        EnableDiagnostics = false;
      };
      ServiceSettings = {
        EnableCustomEmoji = true;
        EnableLocalMode = true;
        EnableSecurityFixAlert = true;
        LocalModeSocketLocation = "/var/lib/mattermost/mattermost.sock";
        MaximumLoginAttempts = 7;
      };
      TeamSettings = {
        EnableOpenServer = false;
        MaxUsersPerTeam = 250;
        SiteName = "Example Chat";
      };
    };
    smtp = {
      auth = true;
      batching = {
        bufferSize = 256;
        enable = false;
        interval = 30;
      };
      connectionSecurity = "STARTTLS";
      enable = true;
      enableSignInWithEmail = true;
      enableSignUpWithEmail = true;
      feedbackEmail = "chat@example.org";
      feedbackName = "Example Chat";
      passwordFile = "/var/lib/gitlab-mattermost-secrets/smtp-password";
      port = 587;
      sendNotifications = true;
      server = "smtp.example.org";
      skipServerCertificateVerification = false;
      username = "chat@example.org";
    };
  };
}
