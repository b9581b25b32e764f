# GitLab integration: GitLab on the same host learns Mattermost's address, and (with
# gitlab.register.enable) a oneshot registers the OAuth application before Mattermost starts.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };
  reg = cfg.gitlab.register;
  gitlab = config.services.gitlab;
  local = gitlab.enable;

  gitlabUrl =
    let
      scheme = if gitlab.https then "https" else "http";
      defaultPort = if gitlab.https then 443 else 80;
    in
    "${scheme}://${gitlab.host}"
    + lib.optionalString (gitlab.port != defaultPort) ":${toString gitlab.port}";

  # The gitlab-rails wrapper that the GitLab module puts into systemPackages (it is not
  # exported otherwise); it sets GitLab's environment and working directory.
  gitlabRails =
    lib.findFirst (package: lib.getName package == "gitlab-rails")
      (throw "services.gitlab-mattermost: no gitlab-rails in environment.systemPackages")
      config.environment.systemPackages;

  createToken = reg.tokenFile == null;
  configFile = cfg.rendered.configFile;
  stateDir = "/var/lib/gitlab-mattermost-oauth";
  credentialFiles = lib.escapeShellArgs [
    cfg.gitlab.idFile
    cfg.gitlab.secretFile
  ];

  register = pkgs.writeShellScript "gitlab-mattermost-oauth" ''
    set -euo pipefail
    umask 077

    ${
      if createToken then
        ''
          # No token given: make a short-lived one for the administrator.
          token_file=${stateDir}/admin-token
          head -c 15 /dev/urandom | base64 | tr '+/' '-_' > "$token_file"
          GITLAB_MATTERMOST_TOKEN="$(cat "$token_file")" runuser -u ${gitlab.user} -- \
            gitlab-rails runner ${./gitlab/create-token.rb} ${lib.escapeShellArg reg.adminUser}
        ''
      else
        "token_file=${lib.escapeShellArg reg.tokenFile}"
    }

    credentials() {
      { cat ${credentialFiles} 2>/dev/null || true; } | sha256sum
    }
    before="$(credentials)"

    attempt=1
    until gitlab-mattermost gitlab register ${configFile} --token-file "$token_file"; do
      if [ "$attempt" -ge ${toString reg.attempts} ]; then
        echo "GitLab at ${cfg.gitlab.url} did not take the registration after $attempt attempts" >&2
        exit 1
      fi
      echo "registration attempt $attempt failed; GitLab may still be starting, retrying in 10 s" >&2
      attempt=$((attempt + 1))
      sleep 10
    done

    ${lib.optionalString (reg.trust || createToken) ''
      GITLAB_MATTERMOST_APP_ID="$(cat ${lib.escapeShellArg cfg.gitlab.idFile})" \
      GITLAB_MATTERMOST_TRUST=${if reg.trust then "1" else "0"} \
      GITLAB_MATTERMOST_REVOKE_FOR=${lib.optionalString createToken (lib.escapeShellArg reg.adminUser)} \
        runuser -u ${gitlab.user} -- gitlab-rails runner ${./gitlab/finish.rb}
    ''}
    ${lib.optionalString createToken ''rm -f "$token_file"''}

    # At boot Mattermost waits for this unit; later (a re-run on switch) it needs a restart
    # to load changed credentials.
    if [ "$(credentials)" != "$before" ]; then
      systemctl try-restart --no-block mattermost.service
    fi
  '';
in
{
  config = lib.mkIf (helpers.active config) (
    lib.mkMerge [
      (lib.mkIf local {
        # GitLab's own Mattermost link (gitlab.yml `production.mattermost`; extraConfig is
        # already under `production`).
        services.gitlab.extraConfig.mattermost = {
          enabled = true;
          host = cfg.externalUrl;
        };

        services.gitlab-mattermost.gitlab.url = lib.mkDefault gitlabUrl;
      })

      (lib.mkIf reg.enable {
        systemd.services.gitlab-mattermost-oauth = {
          description = "Register GitLab Mattermost as an OAuth application in GitLab";
          wantedBy = [ "multi-user.target" ];
          before = [ "mattermost.service" ];
          wants = [ "network-online.target" ] ++ lib.optional local "gitlab.service";
          after = [
            "network-online.target"
          ]
          ++ lib.optionals local [
            "gitlab.service"
            "nginx.service"
          ];
          # (NixOS adds coreutils and systemctl to every unit's PATH.)
          path = [
            cfg.compilerPackage
            pkgs.util-linux
          ]
          ++ lib.optional local gitlabRails;
          # The compiler's HTTP client and Mattermost trust what the host trusts
          # (security.pki), e.g. a GitLab with a private CA.
          environment.SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt";
          restartTriggers = [ configFile ];
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = register;
            StateDirectory = "gitlab-mattermost-oauth";
            StateDirectoryMode = "0700";
            TimeoutStartSec = "${toString (reg.attempts * 10 + 600)}s";
          };
        };

        systemd.services.mattermost = {
          wants = [ "gitlab-mattermost-oauth.service" ];
          after = [ "gitlab-mattermost-oauth.service" ];
        };
      })
    ]
  );
}
