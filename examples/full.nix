# The same configuration as full.toml, as a Nix attribute set (literal data only).
# `gitlab-mattermost render examples/full.nix --out rendered` renders the same bytes as full.toml.
{
  external_url = "https://mattermost.example.com";

  listen = {
    address = "127.0.0.1";
    port = 8065;
  };

  account = {
    user = "mattermost";
    group = "mattermost";
    uid = 1234;
    gid = 1234;
  };

  directories = {
    data = "/var/lib/mattermost";
    logs = "/var/log/mattermost";
    config = "/var/lib/mattermost/config";
    plugins = "/var/lib/mattermost/plugins";
    client_plugins = "/var/lib/mattermost/client-plugins";
  };

  mattermost.install_dir = "/opt/mattermost";
  mattermost.wrapper = "/usr/bin/gitlab-mattermost";

  gitlab = {
    enable = true;
    url = "https://gitlab.example.com";
    id_file = "/etc/gitlab-mattermost-secrets/gitlab-id";
    secret_file = "/etc/gitlab-mattermost-secrets/gitlab-secret";
    scope = "read_user";
    # Team Edition 11 offers no GitLab button: users sign in at /gitlab-sign-in (see full.toml).
    allow_team_edition_route = true;
  };

  smtp = {
    enable = true;
    server = "smtp.example.com";
    port = 587;
    username = "mattermost@example.com";
    password_file = "/etc/gitlab-mattermost-secrets/smtp-password";
    auth = true;
    connection_security = "STARTTLS";
    feedback_name = "GitLab Mattermost";
    feedback_email = "mattermost@example.com";
    send_notifications = true;
    enable_sign_in_with_email = true;
    enable_sign_up_with_email = false;
    batching = {
      enable = true;
      interval = 300;
      buffer_size = 256;
    };
  };

  database = {
    kind = "local";
    name = "mattermost";
    user = "mattermost";
  };

  file_storage = {
    driver = "local";
    directory = "/var/lib/mattermost/data";
  };

  nginx = {
    enable = true;
    certificate = "/etc/ssl/mattermost/fullchain.pem";
    certificate_key = "/etc/ssl/mattermost/key.pem";
    redirect_http_to_https = true;
    acme_webroot = "/var/lib/gitlab-mattermost/acme";
    client_max_body_size = "100m";
    listen_addresses = [
      "0.0.0.0"
      "[::]"
    ];
    server_config = ''
      location = /robots.txt {
          return 200 "User-agent: *\nDisallow: /\n";
      }
    '';
    proxy_headers."X-Request-Start" = "t=$msec";
  };

  environment = {
    https_proxy = "http://proxy.example.com:3128";
    no_proxy = "localhost,127.0.0.1,gitlab.example.com";
  };

  settings = {
    MM_TEAMSETTINGS_SITENAME = "GitLab Mattermost";
    ServiceSettings = {
      MaximumLoginAttempts = 10;
      EnableLocalMode = true;
      AllowedUntrustedInternalConnections = "gitlab.example.com";
    };
    TeamSettings.MaxUsersPerTeam = 500;
  };

  setting_files."SqlSettings.AtRestEncryptKey" = "/etc/gitlab-mattermost-secrets/at-rest-key";
}
