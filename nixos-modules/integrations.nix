# GitLab notifications and slash commands (services.gitlab-mattermost.integrations, generated
# from the schema): a oneshot runs `gitlab-mattermost integrations sync` with every start of
# Mattermost (and after GitLab on the same host), and again on a switch that changes the
# declaration. The sync is idempotent, so a run changes nothing unless the declaration did.
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
  helpers = import ./lib.nix { inherit lib; };
  icfg = cfg.integrations;
  sync = icfg.sync;
  gitlab = config.services.gitlab;
  local = gitlab.enable;

  # What the sync reads, and nothing else: the declaration, GitLab's URL, the site URL the
  # webhook URLs are made of, the account and local-mode socket it reaches Mattermost by, and
  # the release. The sync gets this file rather than the whole configuration, so that its unit
  # (and with it a switch) changes only when one of these does; the whole configuration is
  # checked when it is rendered. (nginx plays no part in the sync: left out, it is not
  # checked again here.)
  syncSettings = {
    inherit (cfg.finalConfig)
      external_url
      site_url
      gitlab
      integrations
      account
      directories
      ;
    mattermost = lib.filterAttrs (
      name: _:
      builtins.elem name [
        "version"
        "edition"
        "allow_end_of_life"
        "license_file"
        "install_dir"
        "mmctl"
      ]
    ) cfg.finalConfig.mattermost;
    settings.ServiceSettings = lib.filterAttrs (
      name: _:
      builtins.elem name [
        "EnableLocalMode"
        "LocalModeSocketLocation"
      ]
    ) (cfg.finalConfig.settings.ServiceSettings or { });
    nginx.enable = false;
  };
  configFile = pkgs.writeText "gitlab-mattermost-integrations.json" (
    builtins.toJSON syncSettings
  );

  declared = icfg.incomingWebhooks != { } || icfg.gitlabProjects != { };
  needsGitlab = icfg.gitlabProjects != { };
  createToken = needsGitlab && sync.tokenFile == null;

  gitlabRails =
    lib.findFirst (package: lib.getName package == "gitlab-rails")
      (throw "services.gitlab-mattermost: no gitlab-rails in environment.systemPackages")
      config.environment.systemPackages;
  tokenScript = ./gitlab/integrations-token.rb;

  script = pkgs.writeShellScript "gitlab-mattermost-integrations" ''
    set -euo pipefail
    umask 077

    ${
      if createToken then
        ''
          # No token given: a short-lived one for the administrator, revoked when done.
          token_file="$RUNTIME_DIRECTORY/gitlab-token"
          trap 'rm -f "$token_file"; runuser -u ${gitlab.user} -- gitlab-rails runner ${tokenScript} revoke ${lib.escapeShellArg sync.adminUser} || true' EXIT
          head -c 15 /dev/urandom | base64 | tr '+/' '-_' > "$token_file"
          GITLAB_MATTERMOST_TOKEN="$(cat "$token_file")" runuser -u ${gitlab.user} -- \
            gitlab-rails runner ${tokenScript} create ${lib.escapeShellArg sync.adminUser}
        ''
      else if needsGitlab then
        "token_file=${lib.escapeShellArg sync.tokenFile}"
      else
        ""
    }

    attempt=1
    until gitlab-mattermost integrations sync ${configFile} ${
      lib.optionalString needsGitlab ''--token-file "$token_file"''
    } ${lib.optionalString sync.prune "--prune"}; do
      if [ "$attempt" -ge ${toString sync.attempts} ]; then
        echo "integrations sync failed $attempt times; see the errors above" >&2
        exit 1
      fi
      echo "integrations sync attempt $attempt failed; Mattermost or GitLab may still be starting, retrying in 10 s" >&2
      attempt=$((attempt + 1))
      sleep 10
    done
  '';
in
{
  options.services.gitlab-mattermost.integrations.sync = {
    tokenFile = mkOption {
      type = types.nullOr secretFile;
      default = null;
      example = "/run/secrets/gitlab-integrations-token";
      description = ''
        File holding a GitLab personal access token (scope `api`) of a Maintainer of every
        project in `integrations.gitlabProjects`, or of an administrator. Leave it unset when
        GitLab runs on this host (`services.gitlab`): a token of `adminUser` valid for one day
        is then made with `gitlab-rails` for each sync and revoked after it.
      '';
    };

    adminUser = mkOption {
      type = types.str;
      default = "root";
      description = "GitLab administrator whose token is made for the sync when `tokenFile` is unset.";
    };

    prune = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Remove the webhooks, slash commands and GitLab integrations an earlier sync created
        that the configuration no longer declares (without it they are only reported in the
        unit's log).
      '';
    };

    attempts = mkOption {
      type = types.ints.positive;
      default = 60;
      description = "How often the sync is tried, 10 seconds apart, while Mattermost or GitLab is starting.";
    };
  };

  config = lib.mkIf (helpers.active config && declared) {
    assertions = [
      {
        assertion = !createToken || local;
        message = "services.gitlab-mattermost.integrations.gitlabProjects needs integrations.sync.tokenFile (a GitLab token with scope api) unless GitLab runs on this host (services.gitlab.enable).";
      }
      {
        assertion = needsGitlab -> cfg.gitlab.url != null;
        message = "services.gitlab-mattermost.integrations.gitlabProjects needs gitlab.url, GitLab's base URL, where the sync sets up the projects' webhooks and slash commands (it is set for you when services.gitlab runs on this host).";
      }
    ];

    systemd.services.gitlab-mattermost-integrations = {
      description = "GitLab notifications and slash commands in Mattermost";
      # Started by each start of Mattermost (the drop-in's Wants=), and after it; not
      # Requires=: on a first boot Mattermost's start may be refused until the OAuth
      # registration succeeds, and a unit that failed as a dependency is not started again
      # when the dependency recovers. The later start of Mattermost (by the registration)
      # starts the sync then. A sync that finds Mattermost not answering yet retries
      # (`sync.attempts`).
      wantedBy = [ "mattermost.service" ];
      wants = [ "network-online.target" ] ++ lib.optional local "gitlab.service";
      after = [
        "network-online.target"
        "mattermost.service"
        "nginx.service"
      ]
      ++ lib.optional local "gitlab.service";
      # (NixOS adds coreutils and systemctl to every unit's PATH.)
      path = [
        cfg.commandPackage
        pkgs.util-linux
      ]
      ++ lib.optional createToken gitlabRails;
      environment.SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt";
      # A changed declaration runs the sync again on switch (the script, which names the
      # file, changes with it too); other settings leave the unit as it is.
      restartTriggers = [ configFile ];
      serviceConfig = helpers.oneshotSandbox // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = script;
        # What the sync writes: its state and the webhook URL files, and GitLab's state
        # when gitlab-rails makes its token. The state directory is made first, outside the
        # sandbox ("+"), in case it does not exist yet.
        ExecStartPre = [
          "+${pkgs.coreutils}/bin/mkdir -p -m 0700 ${lib.escapeShellArg icfg.stateDirectory}"
        ];
        ReadWritePaths = helpers.writablePaths (
          [ icfg.stateDirectory ]
          ++ lib.mapAttrsToList (_: hook: dirOf hook.urlFile) (
            lib.filterAttrs (_: hook: hook.urlFile != null) icfg.incomingWebhooks
          )
          ++ lib.optional createToken gitlab.statePath
        );
        # Root: the local-mode socket is the service user's, and the webhook URL files and
        # the state are root-only.
        RuntimeDirectory = "gitlab-mattermost-integrations";
        RuntimeDirectoryMode = "0700";
        TimeoutStartSec = "${toString (sync.attempts * 10 + 600)}s";
      };
    };
  };
}
