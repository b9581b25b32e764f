# Generated from the configuration schema (crates/catalogue/src/schema.rs).
# Do not edit: run `cargo run -- nixos-options --names > nixos-modules/names.nix`.
#
# The compiler's name of every option declared in options.nix: an option maps to the
# compiler's key, a section to { name = <the compiler's key>; options = <its map>; }. The
# module hands the compiler its configuration under these names (lib.nix, `project`).
{
  externalUrl = "external_url";
  siteUrl = "site_url";
  listen = {
    name = "listen";
    options = {
      address = "address";
      port = "port";
    };
  };
  account = {
    name = "account";
    options = {
      user = "user";
      group = "group";
      uid = "uid";
      gid = "gid";
    };
  };
  directories = {
    name = "directories";
    options = {
      data = "data";
      logs = "logs";
      config = "config";
      plugins = "plugins";
      clientPlugins = "client_plugins";
    };
  };
  mattermost = {
    name = "mattermost";
    options = {
      installDir = "install_dir";
      wrapper = "wrapper";
      mmctl = "mmctl";
      version = "version";
      allowEndOfLife = "allow_end_of_life";
      edition = "edition";
      licenseFile = "license_file";
    };
  };
  gitlab = {
    name = "gitlab";
    options = {
      enable = "enable";
      url = "url";
      authEndpoint = "auth_endpoint";
      tokenEndpoint = "token_endpoint";
      userApiEndpoint = "user_api_endpoint";
      id = "id";
      idFile = "id_file";
      secretFile = "secret_file";
      scope = "scope";
      allowTeamEditionRoute = "allow_team_edition_route";
    };
  };
  smtp = {
    name = "smtp";
    options = {
      enable = "enable";
      server = "server";
      port = "port";
      username = "username";
      passwordFile = "password_file";
      auth = "auth";
      connectionSecurity = "connection_security";
      skipServerCertificateVerification = "skip_server_certificate_verification";
      feedbackName = "feedback_name";
      feedbackEmail = "feedback_email";
      sendNotifications = "send_notifications";
      enableSignInWithEmail = "enable_sign_in_with_email";
      enableSignUpWithEmail = "enable_sign_up_with_email";
      batching = {
        name = "batching";
        options = {
          enable = "enable";
          interval = "interval";
          bufferSize = "buffer_size";
        };
      };
    };
  };
  database = {
    name = "database";
    options = {
      kind = "kind";
      name = "name";
      user = "user";
      socketDir = "socket_dir";
      host = "host";
      port = "port";
      passwordFile = "password_file";
      sslmode = "sslmode";
      readReplicas = "read_replicas";
    };
  };
  fileStorage = {
    name = "file_storage";
    options = {
      driver = "driver";
      directory = "directory";
      bucket = "bucket";
      endpoint = "endpoint";
      region = "region";
      accessKeyId = "access_key_id";
      secretAccessKeyFile = "secret_access_key_file";
      ssl = "ssl";
    };
  };
  nginx = {
    name = "nginx";
    options = {
      enable = "enable";
      install = "install";
      https = "https";
      certificate = "certificate";
      certificateKey = "certificate_key";
      redirectHttpToHttps = "redirect_http_to_https";
      redirectHttpPort = "redirect_http_port";
      acmeWebroot = "acme_webroot";
      listenPort = "listen_port";
      listenAddresses = "listen_addresses";
      clientMaxBodySize = "client_max_body_size";
      proxyReadTimeout = "proxy_read_timeout";
      proxyHeaders = "proxy_headers";
      serverConfig = "server_config";
    };
  };
  environment = "environment";
  environmentFiles = "environment_files";
  settings = "settings";
  settingFiles = "setting_files";
  integrations = {
    name = "integrations";
    options = {
      owner = "owner";
      stateDirectory = "state_directory";
      incomingWebhooks = {
        name = "incoming_webhooks";
        attrsOf = {
          team = "team";
          channel = "channel";
          displayName = "display_name";
          description = "description";
          username = "username";
          iconUrl = "icon_url";
          lockToChannel = "lock_to_channel";
          urlFile = "url_file";
        };
      };
      gitlabProjects = {
        name = "gitlab_projects";
        attrsOf = {
          webhook = "webhook";
          channel = "channel";
          username = "username";
          events = "events";
          notifyOnlyBrokenPipelines = "notify_only_broken_pipelines";
          branchesToBeNotified = "branches_to_be_notified";
          slashCommands = {
            name = "slash_commands";
            options = {
              enable = "enable";
              team = "team";
              trigger = "trigger";
              username = "username";
              autoComplete = "auto_complete";
            };
          };
        };
      };
    };
  };
  backup = {
    name = "backup";
    options = {
      schedule = "schedule";
      keep = "keep";
      directory = "directory";
    };
  };
  secretsProvisionedAtBoot = "secrets_provisioned_at_boot";
}
