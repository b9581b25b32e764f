# Host configurations that both the flake's module-eval check (real NixOS) and
# checks/eval/run (stub NixOS options) evaluate. `secretFile` is the absolute path of a file
# whose content is `canary`: the module must pass the path on, never the content.
#
# Each host is { system, module } with optionally `release` (the NixOS release its lib
# reports, eval/host-lib.nix) and `rejected = true` for a host the assertions must reject.
# Every other host must pass every assertion (NixOS's own too), and module-eval evaluates
# its whole system (toplevel.drvPath), so hosts set what real NixOS needs besides the
# module (e.g. security.acme for ACME).
{ secretFile }:
let
  certificates = host: {
    certificate = "/var/lib/certs/${host}/fullchain.pem";
    certificateKey = "/var/lib/certs/${host}/key.pem";
  };

  # The modules a flake of the docs hands nixpkgs.lib.nixosSystem for nixosConfigurations.chat
  # (its gitlab-mattermost.nixosModules.default left out: the harnesses add the module).
  flakeModules =
    file:
    let
      outputs = (import file).outputs {
        nixpkgs.lib.nixosSystem =
          {
            modules,
            system ? null,
          }:
          {
            inherit modules;
          };
        gitlab-mattermost.nixosModules.default = { };
      };
    in
    outputs.nixosConfigurations.chat.modules;

  # What sops-nix and agenix declare that the docs' snippets use: each secret's path under /run.
  secretsModules =
    { lib, ... }:
    let
      secrets =
        directory: extra:
        lib.mkOption {
          default = { };
          type = lib.types.attrsOf (
            lib.types.submodule (
              { name, ... }:
              {
                options = extra // {
                  path = lib.mkOption {
                    type = lib.types.str;
                    default = "${directory}/${name}";
                  };
                };
              }
            )
          );
        };
    in
    {
      options.sops.secrets = secrets "/run/secrets" { };
      options.age.secrets = secrets "/run/agenix" {
        file = lib.mkOption { type = lib.types.path; };
      };
    };
in
rec {
  # The README's NixOS snippet, as it is there (a test keeps the two equal).
  readme = {
    system = "x86_64-linux";
    module = import ../../examples/nixos/readme-module.nix;
  };

  # The Nix snippets of docs/*.md, each as the file under examples/nixos/ it is shown from (the
  # same test keeps them equal).

  # docs/nixos.md, "Quick start": the flake, and the configuration.nix it names.
  nixosQuickStart = {
    system = "x86_64-linux";
    module.imports = flakeModules ../../examples/nixos/nixos-quick-start/flake.nix;
  };
  nixosQuickStartConfiguration = {
    system = "x86_64-linux";
    module = ../../examples/nixos/nixos-quick-start/configuration.nix;
  };

  # docs/nixos.md, "Backups", "Secrets" and "Sign in with GitLab", each added to the quick
  # start's configuration.
  nixosBackup = {
    system = "x86_64-linux";
    module = ../../examples/nixos/nixos-backup.nix;
  };
  nixosSecretFile = {
    system = "x86_64-linux";
    module = ../../examples/nixos/nixos-secret-file.nix;
  };
  nixosSops = {
    system = "x86_64-linux";
    module.imports = [
      secretsModules
      ../../examples/nixos/nixos-sops.nix
    ];
  };
  nixosAgenix = {
    system = "x86_64-linux";
    module.imports = [
      secretsModules
      ../../examples/nixos/nixos-agenix.nix
    ];
  };
  nixosGitlabSignIn = {
    system = "x86_64-linux";
    module = ../../examples/nixos/nixos-gitlab-sign-in.nix;
  };

  # docs/integrations.md, "On NixOS".
  integrationsDoc = {
    system = "x86_64-linux";
    module = ../../examples/nixos/integrations.nix;
  };

  # docs/migrating-from-nixpkgs.md, step 3: the host's configuration importing the module the
  # importer wrote.
  migratingFromNixpkgs = {
    system = "x86_64-linux";
    module = ../../examples/nixos/migrating-from-nixpkgs/configuration.nix;
  };

  # Everything at its default: local PostgreSQL, nginx with https.
  minimal = {
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  # Fixed ids, other names, a database named apart from its owner, secrets, ACME, backups.
  custom = {
    system = "x86_64-linux";
    module = {
      security.acme = {
        acceptTerms = true;
        defaults.email = "admin@example.org";
      };
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.org";
        account = {
          user = "mm";
          group = "mmgroup";
          uid = 2001;
          gid = 2002;
        };
        database = {
          name = "chat";
          user = "mm";
        };
        smtp = {
          enable = true;
          server = "smtp.example.org";
          port = 587;
          connectionSecurity = "STARTTLS";
          auth = true;
          username = "chat";
          passwordFile = secretFile;
          feedbackEmail = "chat@example.org";
        };
        settingFiles."SqlSettings.AtRestEncryptKey" = secretFile;
        settings.TeamSettings.SiteName = "Example Chat";
        # Elsewhere than the default, as an import from services.mattermost may put it.
        settings.ServiceSettings.LocalModeSocketLocation = "/var/lib/mattermost/local.sock";
        nginx.enableACME = true;
        nginx.listenAddresses = [ "192.0.2.10" ];
        openFirewall = true;
        backup.enable = true;
      };
    };
  };

  # GitLab on the same host: GitLab links to Mattermost, and a oneshot registers the OAuth
  # application with a token made by gitlab-rails.
  gitlabLocal = {
    system = "x86_64-linux";
    module = {
      services.gitlab = {
        enable = true;
        host = "git.example.org";
        https = true;
        port = 443;
        initialRootPasswordFile = "/run/secrets/gitlab/root-password";
        secrets = {
          secretFile = "/run/secrets/gitlab/secret";
          otpFile = "/run/secrets/gitlab/otp";
          dbFile = "/run/secrets/gitlab/db";
          jwsFile = "/run/secrets/gitlab/jws";
          activeRecordPrimaryKeyFile = "/run/secrets/gitlab/ar-primary";
          activeRecordDeterministicKeyFile = "/run/secrets/gitlab/ar-deterministic";
          activeRecordSaltFile = "/run/secrets/gitlab/ar-salt";
        };
      };
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.org";
        nginx = certificates "chat.example.org";
        gitlab.register.enable = true;
        gitlab.allowTeamEditionRoute = true;
      };
    };
  };

  # GitLab notifications and slash commands, GitLab on the same host: the sync's token is made
  # with gitlab-rails.
  integrations = {
    system = "x86_64-linux";
    module = {
      services.gitlab = {
        enable = true;
        host = "git.example.org";
        https = true;
        port = 443;
        initialRootPasswordFile = "/run/secrets/gitlab/root-password";
        secrets = {
          secretFile = "/run/secrets/gitlab/secret";
          otpFile = "/run/secrets/gitlab/otp";
          dbFile = "/run/secrets/gitlab/db";
          jwsFile = "/run/secrets/gitlab/jws";
          activeRecordPrimaryKeyFile = "/run/secrets/gitlab/ar-primary";
          activeRecordDeterministicKeyFile = "/run/secrets/gitlab/ar-deterministic";
          activeRecordSaltFile = "/run/secrets/gitlab/ar-salt";
        };
      };
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.org";
        nginx = certificates "chat.example.org";
        integrations = {
          owner = "gitlab-bot";
          incomingWebhooks.ci = {
            team = "engineering";
            channel = "ci";
            lockToChannel = true;
          };
          gitlabProjects."group/project" = {
            webhook = "ci";
            username = "GitLab";
            events = [
              "push"
              "merge_request"
            ];
            slashCommands.enable = true;
          };
        };
      };
    };
  };

  # GitLab elsewhere: the token comes from a file, nothing is marked trusted.
  gitlabRemote = {
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.org";
        nginx = certificates "chat.example.org";
        gitlab = {
          allowTeamEditionRoute = true;
          url = "https://gitlab.example.org";
          register = {
            enable = true;
            tokenFile = secretFile;
            waitTimeout = 7200;
          };
        };
      };
    };
  };

  # A host without IPv6, with the http to https redirect host as well.
  noIPv6 = {
    system = "x86_64-linux";
    module = {
      networking.enableIPv6 = false;
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com" // {
          redirectHttpToHttps = true;
        };
      };
    };
  };

  # Mattermost 11 with GitLab sign-in: the license warning.
  # The 10.11 ESR, past its end of life, without saying so (and with it: see endOfLifeAllowed).
  endOfLife = {
    rejected = true;
    system = "x86_64-linux";
    module =
      { pkgs, ... }:
      {
        services.gitlab-mattermost = {
          enable = true;
          package = pkgs.mattermost // { version = "10.11.18"; };
          externalUrl = "https://chat.example.com";
          nginx = certificates "chat.example.com";
        };
      };
  };
  endOfLifeAllowed = {
    system = "x86_64-linux";
    module =
      { pkgs, ... }:
      {
        services.gitlab-mattermost = {
          enable = true;
          package = pkgs.mattermost // { version = "10.11.18"; };
          mattermost.allowEndOfLife = true;
          externalUrl = "https://chat.example.com";
          nginx = certificates "chat.example.com";
        };
      };
  };

  # GitLab sign-in on 11 Team Edition without saying how: rejected with the choices.
  teamEditionNoChoice = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        gitlab = {
          enable = true;
          url = "https://gitlab.example.com";
          id = "0123456789abcdef";
          secretFile = "/run/secrets/gitlab-oauth-secret";
        };
      };
    };
  };

  mattermost11 = {
    system = "x86_64-linux";
    module =
      { pkgs, ... }:
      {
        services.gitlab-mattermost = {
          enable = true;
          package = pkgs.mattermostLatest;
          externalUrl = "https://chat.example.com";
          nginx = certificates "chat.example.com";
          gitlab = {
            allowTeamEditionRoute = true;
            enable = true;
            url = "https://gitlab.example.com";
            id = "0123456789abcdef";
            secretFile = "/run/secrets/gitlab-oauth-secret";
          };
        };
      };
  };

  # mattermost.version set by the host (where the compiler's schema has it), against the
  # package's 11.
  versionPinned = {
    system = "x86_64-linux";
    module =
      { options, pkgs, ... }:
      {
        services.gitlab-mattermost = {
          enable = true;
          package = pkgs.mattermostLatest;
          externalUrl = "https://chat.example.com";
          nginx = certificates "chat.example.com";
        }
        // (
          if options.services.gitlab-mattermost.mattermost ? version then
            {
              mattermost.version = "10.11";
              mattermost.allowEndOfLife = true;
            }
          else
            { }
        );
      };
  };

  # A Mattermost the compiler has no settings catalogue for.
  versionUnknown = {
    system = "x86_64-linux";
    module =
      { pkgs, ... }:
      {
        services.gitlab-mattermost = {
          enable = true;
          # Built in the host from what real nixpkgs has: its own package, another version.
          package = pkgs.mattermost // { version = "10.5.8"; };
          externalUrl = "https://chat.example.com";
          nginx = certificates "chat.example.com";
        };
      };
  };

  # The same, with a site URL of its own: GitLab links to where users reach Mattermost.
  gitlabLocalSiteUrl = {
    system = "x86_64-linux";
    module = {
      imports = [ gitlabLocal.module ];
      services.gitlab-mattermost.siteUrl = "https://chat.example.net";
    };
  };

  # The same with a Mattermost setting changed that registration does not read: the OAuth
  # oneshot must stay as it is (not run again on switch).
  gitlabLocalOtherSetting = {
    system = "x86_64-linux";
    module = {
      imports = [ gitlabLocal.module ];
      services.gitlab-mattermost.settings.TeamSettings.SiteName = "Another Name";
    };
  };

  # The integrations host with a setting changed that the sync does not read, and with
  # another webhook declared.
  integrationsOtherSetting = {
    system = "x86_64-linux";
    module = {
      imports = [ integrations.module ];
      services.gitlab-mattermost.settings.TeamSettings.SiteName = "Another Name";
    };
  };
  integrationsOtherWebhook = {
    system = "x86_64-linux";
    module = {
      imports = [ integrations.module ];
      services.gitlab-mattermost.integrations.incomingWebhooks.deploys = {
        team = "engineering";
        channel = "deploys";
      };
    };
  };

  # The host's own forceSSL on the module's vhost (a port 80 redirect by NixOS): it wins over
  # the module's defaults instead of conflicting with them.
  userForceSSL = {
    system = "x86_64-linux";
    module = {
      services.nginx.virtualHosts."chat.example.com".forceSSL = true;
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  # A certificate another part of the host gets (a wildcard by DNS-01), named by
  # security.acme.certs.<name>.
  acmeHost = {
    system = "x86_64-linux";
    module = {
      security.acme = {
        acceptTerms = true;
        defaults.email = "admin@example.com";
        certs."example.com" = {
          domain = "*.example.com";
          dnsProvider = "rfc2136";
          environmentFile = "/run/secrets/acme-dns";
          group = "nginx";
        };
      };
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx.useACMEHost = "example.com";
        nginx.redirectHttpToHttps = true;
      };
    };
  };

  # nginx's own default addresses, set by the host for every vhost.
  nginxDefaults = {
    system = "x86_64-linux";
    module = {
      services.nginx.defaultListenAddresses = [ "192.0.2.20" ];
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  # The minimal host with only nginx settings changed, and with only a Mattermost setting
  # changed: a switch between the first two must leave Mattermost running.
  minimalNginxChange = {
    system = "x86_64-linux";
    module = {
      imports = [ minimal.module ];
      services.gitlab-mattermost.nginx = {
        clientMaxBodySize = "50m";
        serverConfig = "access_log off;";
      };
    };
  };
  minimalSettingChange = {
    system = "x86_64-linux";
    module = {
      imports = [ minimal.module ];
      services.gitlab-mattermost.settings.TeamSettings.SiteName = "Another Name";
    };
  };

  # Telemetry: diagnostics switched on with the module's option; and a host that sets the
  # Mattermost setting itself.
  telemetryOn = {
    system = "x86_64-linux";
    module = {
      imports = [ minimal.module ];
      services.gitlab-mattermost.telemetry.enableDiagnostics = true;
    };
  };
  telemetrySetting = {
    system = "x86_64-linux";
    module = {
      imports = [ minimal.module ];
      services.gitlab-mattermost.settings.LogSettings.EnableDiagnostics = true;
    };
  };

  # Hosts that the assertions must reject.

  # A NixOS release older than 25.11 (its lib says so; `release` is read by both harnesses):
  # no postgresql.target, so Mattermost would never start.
  release2505 = {
    rejected = true;
    system = "x86_64-linux";
    release = "25.05";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  # nixpkgs' own services.mattermost next to this module (both define the unit and the user).
  bothModules = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.mattermost = {
        enable = true;
        siteUrl = "https://chat.example.com";
      };
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  aarch64 = {
    rejected = true;
    system = "aarch64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
      };
    };
  };

  nixPathSecret = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        smtp.passwordFile = ./hosts.nix;
      };
    };
  };

  inlineSecret = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        smtp.passwordFile = "inline-secret-canary";
        settingFiles."SqlSettings.AtRestEncryptKey" = "another-inline-secret";
      };
    };
  };

  bothAcme = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx.enableACME = true;
        nginx.useACMEHost = "example.com";
      };
    };
  };

  # The integrations host's declaration with GitLab elsewhere, but neither its URL nor a token
  # for its API.
  integrationsRemoteUnset = {
    rejected = true;
    system = "x86_64-linux";
    module.services.gitlab-mattermost = integrations.module.services.gitlab-mattermost;
  };

  noCertificate = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
      };
    };
  };

  # The option that counted attempts, 10 s apart, before the oneshot waited for GitLab.
  registerAttempts = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        gitlab = {
          allowTeamEditionRoute = true;
          url = "https://gitlab.example.com";
          register = {
            enable = true;
            tokenFile = "/run/secrets/gitlab-token";
            trust = false;
            attempts = 180;
          };
        };
      };
    };
  };

  nixPathToken = {
    rejected = true;
    system = "x86_64-linux";
    module = {
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        gitlab = {
          allowTeamEditionRoute = true;
          url = "https://gitlab.example.com";
          register = {
            enable = true;
            tokenFile = ./hosts.nix;
            trust = false;
          };
        };
      };
    };
  };

  # The service account in an existing group whose gid another module fixes (as NixOS's
  # nginx module does for nginx), and no ids of its own.
  sharedGroup = {
    system = "x86_64-linux";
    module = {
      users.groups.nginx.gid = 60;
      services.gitlab-mattermost = {
        enable = true;
        externalUrl = "https://chat.example.com";
        nginx = certificates "chat.example.com";
        account.group = "nginx";
      };
    };
  };
}
