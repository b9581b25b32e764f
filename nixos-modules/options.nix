# Generated from the configuration schema (crates/catalogue/src/schema.rs).
# Do not edit: run `cargo run -- nixos-options > nixos-modules/options.nix`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  inherit (import ./types.nix { inherit lib; }) secretFile;
  cfg = config.services.gitlab-mattermost;
in
{
  options.services.gitlab-mattermost = {
    externalUrl = mkOption {
      type = types.str;
      description = ''
        The URL nginx serves, e.g. `https://mattermost.example.com`. It becomes the nginx server
        name and listen port, decides whether nginx serves https, and is Mattermost's
        `ServiceSettings.SiteURL` unless `siteUrl` is set. Scheme http or https, a host, no path.
      '';
      example = "https://mattermost.example.com";
    };

    siteUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        The URL users open, when it differs from `externalUrl` (an outer load balancer or proxy in
        front of nginx, another host name or port). It becomes Mattermost's
        `ServiceSettings.SiteURL`: the links in mail, the GitLab OAuth redirect URIs and the scheme
        and port nginx forwards follow it, while the nginx server name, listen port and certificates
        follow `externalUrl`. Default: `externalUrl`. Scheme http or https, a host, no path.
      '';
      example = "https://chat.example.com";
    };

    # Where Mattermost itself listens; nginx proxies to it.
    listen = {
      address = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = "Address Mattermost binds to. Keep it on loopback when nginx is in front.";
      };

      port = mkOption {
        type = types.ints.between 1 65535;
        default = 8065;
        description = "TCP port Mattermost binds to.";
      };
    };

    # The system account Mattermost runs as.
    account = {
      user = mkOption {
        type = types.str;
        default = "mattermost";
        description = "User name.";
      };

      group = mkOption {
        type = types.str;
        default = "mattermost";
        description = "Group name.";
      };

      uid = mkOption {
        type = types.nullOr (types.ints.between 1 4294967294);
        default = null;
        description = ''
          Fixed numeric user id; leave unset to let the system choose. Set it when migrating so
          copied files keep their owner.
        '';
      };

      gid = mkOption {
        type = types.nullOr (types.ints.between 1 4294967294);
        default = null;
        description = "Fixed numeric group id; leave unset to let the system choose.";
      };
    };

    # Mattermost's directories.
    directories = {
      data = mkOption {
        type = types.str;
        default = "/var/lib/mattermost";
        description = "State directory (the service's working directory).";
      };

      logs = mkOption {
        type = types.str;
        default = "/var/log/mattermost";
        description = "Log directory (`LogSettings.FileLocation`).";
      };

      config = mkOption {
        type = types.str;
        default = "/var/lib/mattermost/config";
        description = ''
          Directory holding `config.json` (Mattermost's own, editable in the System Console).
        '';
      };

      plugins = mkOption {
        type = types.str;
        default = "/var/lib/mattermost/plugins";
        description = "Server plugins (`PluginSettings.Directory`).";
      };

      clientPlugins = mkOption {
        type = types.str;
        default = "/var/lib/mattermost/client-plugins";
        description = "Web app plugins (`PluginSettings.ClientDirectory`).";
      };
    };

    # The Mattermost installation the service starts.
    mattermost = {
      installDir = mkOption {
        type = types.str;
        default = "${cfg.package}";
        defaultText = lib.literalExpression "\"\${config.services.gitlab-mattermost.package}\"";
        description = ''
          Directory of a Mattermost release (holds `bin/mattermost`, `client/`, `i18n/`,
          `templates/`, `fonts/`). The NixOS module sets it to the package.
        '';
      };

      wrapper = mkOption {
        type = types.str;
        default = "${cfg.compilerPackage}/bin/gitlab-mattermost";
        defaultText = lib.literalExpression "\"\${config.services.gitlab-mattermost.compilerPackage}/bin/gitlab-mattermost\"";
        description = ''
          Path of the `gitlab-mattermost` binary used as the unit's `ExecStart=` wrapper.
        '';
      };

      mmctl = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          Path of Mattermost's command-line client, run by `gitlab-mattermost mmctl`; default
          `<installDir>/bin/mmctl` (where a release tarball has it).
        '';
      };

      version = mkOption {
        type = types.enum [
          "10.11"
          "11.7"
        ];
        default = "11.7";
        description = ''
          The Mattermost release line the server runs: `"11.7"` (the current Extended Support
          Release, supported until 2027-05-15; the default) or `"10.11"` (the ESR Omnibus shipped
          last, out of support since 2026-08-15: refused unless `allowEndOfLife`). `"11.x"` is read
          as `"11.7"`. Settings are checked against that version's catalogue (one it lacks is
          refused, since Mattermost would silently ignore it) and its facts: settings that stop it
          from starting, the PostgreSQL it needs, what GitLab sign-in needs.
        '';
      };

      allowEndOfLife = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Run a Mattermost line past its end of life knowingly: it gets no security fixes. Every
          `check` and `apply` then warns. Meant for the weeks of a move, not as a resting state.
        '';
      };

      edition = mkOption {
        type = types.enum [
          "team"
          "enterprise"
        ];
        default = "team";
        description = ''
          Which Mattermost build runs: `"team"` (Team Edition, what Omnibus and nixpkgs ship; the
          default) or `"enterprise"` (the Enterprise build: with `licenseFile` a licensed server,
          without one the free "Entry" tier). From 11.0 GitLab sign-in is an Enterprise feature.

          - `"team"`: Team Edition (open source; what Omnibus and nixpkgs ship).
          - `"enterprise"`: The Enterprise build, licensed or (without a licence) the free Entry tier.
        '';
      };

      licenseFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = ''
          Enterprise only: a file holding the Mattermost licence (a secret: read at start with
          `LoadCredential=`, handed to Mattermost as `MM_LICENSE`, never copied anywhere).
        '';
      };
    };

    # Sign-in with GitLab (OAuth 2).
    gitlab = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = "Offer \"Sign in with GitLab\" (`GitLabSettings.Enable`).";
      };

      url = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "GitLab's base URL, e.g. `https://gitlab.example.com`.";
        example = "https://gitlab.example.com";
      };

      authEndpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Authorization endpoint; default `<url>/oauth/authorize`.";
      };

      tokenEndpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Token endpoint; default `<url>/oauth/token`.";
      };

      userApiEndpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "User API endpoint; default `<url>/api/v4/user`.";
      };

      id = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          OAuth application id (GitLab's "Application ID"). Not a secret; use `idFile` when a
          registration step writes it.
        '';
      };

      idFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = ''
          File holding the OAuth application id (written by `gitlab-mattermost gitlab register`).
        '';
      };

      secretFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = "File holding the OAuth application secret.";
      };

      scope = mkOption {
        type = types.str;
        default = "read_user";
        description = ''
          OAuth scope requested, space-separated. `read_user` is what Mattermost needs and what the
          application `gitlab register` creates allows. An empty scope is what Omnibus requested and
          fits the application Omnibus registered (one without scopes): GitLab then grants its
          default, `api`, more than Mattermost needs. Against an application that has scopes, an
          empty request falls back to `api`, which that application does not allow, and the login
          fails. `gitlab register` keeps an application only when its scopes are exactly these
          (none, for an empty scope).
        '';
      };

      allowTeamEditionRoute = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Team Edition on the 11 line only: rely on the route Team Edition still answers,
          `/oauth/gitlab/login`, though 11.0 moved GitLab sign-in to the Enterprise build and no app
          shows a GitLab button. nginx then serves a stable sign-in link, `/gitlab-sign-in`, that
          leads there, and `doctor` checks that the route still answers. Undocumented by Mattermost:
          any release may close it.
        '';
      };
    };

    # Outgoing mail.
    smtp = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = "Configure mail at all; when false Mattermost's own defaults stay.";
      };

      server = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "SMTP server host name.";
      };

      port = mkOption {
        type = types.ints.between 1 65535;
        default = 25;
        description = "SMTP server port (25, 465 for TLS, 587 for STARTTLS).";
      };

      username = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "User name for SMTP authentication.";
      };

      passwordFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = "File holding the SMTP password.";
      };

      auth = mkOption {
        type = types.bool;
        default = false;
        description = "Authenticate to the server (`EnableSMTPAuth`).";
      };

      connectionSecurity = mkOption {
        type = types.enum [
          ""
          "TLS"
          "STARTTLS"
        ];
        default = "";
        description = ''
          Connection security: `""` (none), `"TLS"` (implicit, usually port 465) or `"STARTTLS"`
          (usually port 587).
        '';
      };

      skipServerCertificateVerification = mkOption {
        type = types.bool;
        default = false;
        description = "Accept any server certificate. Only for testing.";
      };

      feedbackName = mkOption {
        type = types.str;
        default = "Mattermost";
        description = "Sender name of notification mail.";
      };

      feedbackEmail = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Sender address of notification mail.";
      };

      sendNotifications = mkOption {
        type = types.bool;
        default = true;
        description = "Send email notifications.";
      };

      enableSignInWithEmail = mkOption {
        type = types.bool;
        default = true;
        description = "Let users sign in with email and password.";
      };

      enableSignUpWithEmail = mkOption {
        type = types.bool;
        default = true;
        description = "Let users sign up with email and password.";
      };

      # Batch notification mail.
      batching = {
        enable = mkOption {
          type = types.bool;
          default = false;
          description = "Batch notifications into one mail per interval. Needs `externalUrl`.";
        };

        interval = mkOption {
          type = types.ints.u32;
          default = 30;
          description = "Seconds between batches; at least 30.";
        };

        bufferSize = mkOption {
          type = types.ints.u32;
          default = 256;
          description = "Most notifications held per batch.";
        };
      };
    };

    # The PostgreSQL database.
    database = {
      kind = mkOption {
        type = types.enum [
          "local"
          "external"
        ];
        default = "local";
        description = "`local` (unix socket, peer auth) or `external` (TCP, password file).";
      };

      name = mkOption {
        type = types.str;
        default = "mattermost";
        description = "Database name.";
      };

      user = mkOption {
        type = types.str;
        default = "mattermost";
        description = "Database role. With `local`, it must equal the account user (peer auth).";
      };

      socketDir = mkOption {
        type = types.str;
        default = "/run/postgresql";
        description = "Directory of PostgreSQL's unix socket (`local` only).";
      };

      host = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Database host (`external` only).";
      };

      port = mkOption {
        type = types.ints.between 1 65535;
        default = 5432;
        description = "Database port.";
      };

      passwordFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = "File holding the database password (`external` only).";
      };

      sslmode = mkOption {
        type = types.str;
        default = "require";
        description = ''
          libpq `sslmode` (`external` only): disable, allow, prefer, require, verify-ca,
          verify-full.
        '';
      };

      readReplicas = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = ''
          Read replica hosts (`host` or `host:port`), same name, user, password and sslmode.
        '';
      };
    };

    # Where uploaded files are kept.
    fileStorage = {
      driver = mkOption {
        type = types.enum [
          "local"
          "s3"
        ];
        default = "local";
        description = "`local` (a directory) or `s3` (an S3-compatible bucket).";
      };

      directory = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Directory for `local` storage; default `<directories.data>/data`.";
      };

      bucket = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3 bucket.";
      };

      endpoint = mkOption {
        type = types.str;
        default = "s3.amazonaws.com";
        description = "S3 endpoint host, e.g. `s3.amazonaws.com` or `minio.example.com:9000`.";
      };

      region = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3 region.";
      };

      accessKeyId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3 access key id (not a secret on its own).";
      };

      secretAccessKeyFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = "File holding the S3 secret access key.";
      };

      ssl = mkOption {
        type = types.bool;
        default = true;
        description = "Talk https to the S3 endpoint.";
      };
    };

    # The nginx reverse proxy in front of Mattermost.
    nginx = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Render the nginx vhost.";
      };

      install = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Install the vhost into this host's nginx (`apply`: Debian's sites-available and
          sites-enabled, else conf.d; NixOS: `services.nginx`). `false` only renders it, to
          `/etc/gitlab-mattermost/nginx/mattermost.conf`, for another nginx to include — GitLab
          Omnibus's, when Mattermost stays on the host that runs GitLab:
          `nginx['custom_nginx_config'] = "include /etc/gitlab-mattermost/nginx/mattermost.conf;"`.
        '';
      };

      https = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = ''
          Serve https; default: the scheme of `externalUrl`. Set false when TLS ends at a load
          balancer in front of nginx.
        '';
      };

      certificate = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Certificate (full chain) path; required when https.";
      };

      certificateKey = mkOption {
        type = types.nullOr secretFile;
        default = null;
        description = "Private key path; required when https. Read by nginx, never copied.";
      };

      redirectHttpToHttps = mkOption {
        type = types.bool;
        default = false;
        description = "Also listen on plain http and redirect to https.";
      };

      redirectHttpPort = mkOption {
        type = types.ints.between 1 65535;
        default = 80;
        description = "Port of the http redirect server.";
      };

      acmeWebroot = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          Directory for ACME http-01 challenges, e.g. `/var/lib/gitlab-mattermost/acme`, for
          `certbot certonly --webroot -w <dir>`: the plain-http server (with https, the redirect
          server, before it redirects) serves `/.well-known/acme-challenge/` from it, and tmpfiles.d
          creates it (root, 0755). Unset: no challenge location. On NixOS use `nginx.enableACME` or
          `nginx.useACMEHost` instead.
        '';
      };

      listenPort = mkOption {
        type = types.nullOr (types.ints.between 1 65535);
        default = null;
        description = "Port nginx listens on; default: the port of `externalUrl`.";
      };

      listenAddresses = mkOption {
        type = types.listOf types.str;
        default = [
          "0.0.0.0"
          "[::]"
        ];
        description = "Addresses nginx listens on.";
      };

      clientMaxBodySize = mkOption {
        type = types.str;
        default = "100m";
        description = "Largest request body (`client_max_body_size`); `0` means unlimited.";
      };

      proxyReadTimeout = mkOption {
        type = types.ints.u32;
        default = 3600;
        description = "`proxy_read_timeout` in seconds.";
      };

      proxyHeaders = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = ''
          Extra or overriding `proxy_set_header` lines (name to value); an empty value removes a
          default header.
        '';
      };

      serverConfig = mkOption {
        type = types.str;
        default = "";
        description = "Raw nginx lines appended inside the server block.";
      };
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = ''
        Extra environment variables for the Mattermost process, e.g. `http_proxy`, `https_proxy`,
        `no_proxy`, `SSL_CERT_DIR`. `MM_*` names belong in `settings`; secrets (a proxy URL with a
        password, `AWS_SECRET_ACCESS_KEY`) in `environmentFiles`.
      '';
      example = {
        https_proxy = "http://proxy.example.com:3128";
      };
    };

    environmentFiles = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = ''
        Extra environment variables whose value is a secret, read from a file at service start:
        variable name to file path. For a proxy with a password (`https_proxy =
        "http://user:password@proxy:3128"`) or a cloud SDK's secret key; the file holds the whole
        value.
      '';
      example = {
        https_proxy = "/etc/gitlab-mattermost-secrets/https-proxy";
      };
    };

    settings = mkOption {
      type = (pkgs.formats.json { }).type;
      default = { };
      description = ''
        Any other Mattermost setting, as `Category.Field` (nested tables) or as its `MM_*` variable
        name. Every name and value is checked against Mattermost's own catalogue.
      '';
      example = {
        ServiceSettings = {
          MaximumLoginAttempts = 10;
        };
        MM_TEAMSETTINGS_SITENAME = "Chat";
      };
    };

    settingFiles = mkOption {
      type = types.attrsOf secretFile;
      default = { };
      description = ''
        Mattermost settings whose value is a secret, read from a file at service start: setting name
        (`Category.Field` or `MM_*`) to file path.
      '';
      example = {
        "SqlSettings.AtRestEncryptKey" = "/etc/gitlab-mattermost-secrets/at-rest-key";
      };
    };

    # GitLab notifications and slash commands in Mattermost: incoming webhooks and the GitLab
    # projects posting to them, made real by `gitlab-mattermost integrations sync`. The Mattermost
    # settings they need (`ServiceSettings.EnableIncomingWebhooks`, `EnableCommands`,
    # `EnablePostUsernameOverride`, `EnablePostIconOverride`, `AllowedUntrustedInternalConnections`)
    # follow; `settings` overrides them.
    integrations = {
      owner = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          The Mattermost user (user name) who owns the webhooks and slash commands `sync` creates;
          Mattermost's local mode has no user of its own. Required when any webhook is declared.
        '';
        example = "gitlab-integrations";
      };

      stateDirectory = mkOption {
        type = types.str;
        default = "/var/lib/gitlab-mattermost/integrations";
        description = ''
          Root-only directory where `sync` writes each webhook's URL (it embeds the webhook's secret
          key) and what it manages (`state.json`), so that reruns update rather than duplicate, and
          only what it created is ever pruned.
        '';
      };

      incomingWebhooks = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              team = mkOption {
                type = types.str;
                description = "Team name (the URL name, e.g. `engineering`).";
              };

              channel = mkOption {
                type = types.str;
                description = ''
                  Channel name in the team (the URL name, e.g. `town-square`): where posts go.
                '';
              };

              displayName = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = ''
                  Name shown in Integrations > Incoming Webhooks; default: the webhook's name.
                '';
              };

              description = mkOption {
                type = types.str;
                default = "";
                description = "Description shown in Integrations > Incoming Webhooks.";
              };

              username = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = ''
                  User name posts appear under (needs `ServiceSettings.EnablePostUsernameOverride`,
                  which is then set).
                '';
              };

              iconUrl = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = ''
                  Profile picture URL of posts (needs `ServiceSettings.EnablePostIconOverride`,
                  which is then set).
                '';
              };

              lockToChannel = mkOption {
                type = types.bool;
                default = false;
                description = ''
                  Post only to `channel`, whatever channel a payload names (GitLab's channel fields
                  are then ignored).
                '';
              };

              urlFile = mkOption {
                type = types.nullOr secretFile;
                default = null;
                description = ''
                  Where `sync` writes the webhook URL (mode 0600); default `webhook-<name>.url` in
                  `integrations.stateDirectory`.
                '';
              };
            };
          }
        );
        default = { };
        description = "Incoming webhooks by name (the name GitLab projects refer to).";
      };

      gitlabProjects = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              webhook = mkOption {
                type = types.str;
                description = ''
                  The incoming webhook (its name in `integrations.incomingWebhooks`) GitLab posts
                  to.
                '';
              };

              channel = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = ''
                  Channel for every event instead of the webhook's (GitLab's `channel` and
                  `<event>_channel` fields); ignored by a webhook locked to its channel.
                '';
              };

              username = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = ''
                  User name of GitLab's posts (needs `ServiceSettings.EnablePostUsernameOverride`,
                  which is then set).
                '';
              };

              events = mkOption {
                type = types.listOf (
                  types.enum [
                    "push"
                    "tag_push"
                    "issue"
                    "confidential_issue"
                    "merge_request"
                    "note"
                    "confidential_note"
                    "pipeline"
                    "wiki_page"
                    "deployment"
                    "incident"
                  ]
                );
                default = [
                  "push"
                  "tag_push"
                  "issue"
                  "merge_request"
                  "note"
                  "pipeline"
                  "wiki_page"
                ];
                description = "The events GitLab notifies (GitLab's trigger names).";
              };

              notifyOnlyBrokenPipelines = mkOption {
                type = types.bool;
                default = true;
                description = "Notify only failed pipelines.";
              };

              branchesToBeNotified = mkOption {
                type = types.enum [
                  "all"
                  "default"
                  "protected"
                  "default_and_protected"
                ];
                default = "default";
                description = "Branches whose push and pipeline events are notified.";
              };

              # A Mattermost slash command for this project (GitLab's "Mattermost slash commands").
              slashCommands = {
                enable = mkOption {
                  type = types.bool;
                  default = false;
                  description = "Create the slash command and GitLab's integration.";
                };

                team = mkOption {
                  type = types.nullOr types.str;
                  default = null;
                  description = "Team the command is in; default: the webhook's team.";
                };

                trigger = mkOption {
                  type = types.nullOr types.str;
                  default = null;
                  description = ''
                    The command word (`/<trigger>`); default: the project's name (last path part).
                  '';
                };

                username = mkOption {
                  type = types.str;
                  default = "GitLab";
                  description = "User name of the command's answers.";
                };

                autoComplete = mkOption {
                  type = types.bool;
                  default = true;
                  description = "Offer the command in autocomplete.";
                };
              };
            };
          }
        );
        default = { };
        description = ''
          GitLab projects by path (`group/project`) with GitLab's "Mattermost notifications"
          integration, and optionally its "Mattermost slash commands".
        '';
      };
    };

    # Scheduled backups: `gitlab-mattermost backup` run by a systemd timer, keeping the newest
    # `keep` backups in `directory`. Off unless `schedule` is set.
    backup = {
      schedule = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          When to back up: a systemd calendar expression (`OnCalendar=`, see `systemd.time(7)`),
          e.g. `"daily"`, `"*-*-* 03:30:00"`, `"Mon..Fri 02:00"`. Renders
          `gitlab-mattermost-backup.service` and its timer (a missed run is made up at the next
          boot); unset: no scheduled backups.
        '';
        example = "daily";
      };

      keep = mkOption {
        type = types.ints.between 1 1000;
        default = 7;
        description = ''
          How many of the scheduled backups to keep (`backup --keep`): after a complete backup the
          older ones beyond this number are removed. Partial backups, upgrade backups and other
          files in `directory` are never touched.
        '';
      };

      directory = mkOption {
        type = types.str;
        default = "/var/backups/gitlab-mattermost";
        description = ''
          Where the backups go (`backup --to`), each in a `mattermost-backup-<UTC date>` directory.
          tmpfiles.d creates it, root's, mode 0700: the backups hold the secret files.
        '';
      };
    };

    secretsProvisionedAtBoot = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether something writes the secret files again at every boot (sops-nix, agenix; the NixOS
        module sets it). Without it `check` warns about a secret file under `/run`, `/tmp` or
        `/dev/shm`, which are emptied at boot: Mattermost would then fail at `LoadCredential=` after
        the next reboot.
      '';
    };
  };
}
