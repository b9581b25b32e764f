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
  stateDir = "/var/lib/gitlab-mattermost-oauth";

  # What registration reads, and nothing else: GitLab's URL, the site URL the redirect URIs
  # are made from, the scope, where the id and secret go, and the Mattermost release (whose
  # edition rules the compiler checks). Registration gets this file rather than the whole
  # configuration, so that the unit (and with it a switch) changes only when one of these
  # does. The whole configuration is checked when it is rendered. (nginx plays no part in
  # registration: left out, it is not checked again here.)
  registrationSettings = {
    inherit (cfg.finalConfig) external_url site_url gitlab;
    mattermost = lib.filterAttrs (
      name: _:
      builtins.elem name [
        "version"
        "edition"
        "allow_end_of_life"
        "license_file"
      ]
    ) cfg.finalConfig.mattermost;
    nginx.enable = false;
  };
  registrationConfig = pkgs.writeText "gitlab-mattermost-oauth.json" (
    builtins.toJSON registrationSettings
  );
  # The registration inputs (the file above and whether the application is trusted): a run
  # whose inputs match the last successful one, with the credentials in place, does nothing.
  inputsHash = builtins.hashString "sha256" (
    builtins.toJSON {
      settings = registrationSettings;
      inherit (reg) trust;
    }
  );
  stamp = "${stateDir}/registered-inputs";
  # What Mattermost loads (LoadCredential=) from a registration.
  credentialPaths = lib.filter (path: path != null) [
    cfg.gitlab.idFile
    cfg.gitlab.secretFile
  ];
  credentialFiles = lib.escapeShellArgs credentialPaths;
  url = lib.escapeShellArg cfg.gitlab.url;
  # Registration attempts once GitLab answers: a GitLab that has just come up may still fail a
  # request or two; a refused token fails every time, and its message should come soon.
  registerAttempts = 3;

  # When GitLab is ready. On this host the unit is ordered after gitlab.service, which is
  # Type=notify (puma reports ready once it serves) and starts after gitlab-db-config.service,
  # the oneshot that migrates the database. That ordering alone does not do: After= waits
  # only for a start job, so when gitlab-db-config or gitlab.service fails and is restarted
  # (both are Restart=on-failure), this unit runs while GitLab is still down, and
  # gitlab-workhorse (Type=simple) answers 502 until puma is up. So the script waits until
  # GitLab answers at the URL it registers with: GET /users/sign_in, the page nixpkgs' own
  # GitLab test waits for, which needs no token and works for a GitLab on another host too.
  # (/-/readiness would also check the database, Redis and Gitaly, but GitLab answers it only
  # to monitoring.ip_whitelist, loopback, which a request through the public URL or from
  # another host is not.) A 5xx or no connection means "still starting"; any other answer
  # means GitLab serves, and the registration's own error then says what is wrong.
  waitForGitlab = ''
    deadline=$((SECONDS + ${toString reg.waitTimeout}))
    delay=5
    while :; do
      status="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 30 \
        --cacert /etc/ssl/certs/ca-certificates.crt ${url}/users/sign_in || true)"
      case "$status" in
        [234]??) break ;;
      esac
      if [ "$status" = 000 ]; then
        status="no answer"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        fail "GitLab at ${cfg.gitlab.url} did not answer within ${toString reg.waitTimeout} s (last: $status).${
          lib.optionalString local " See systemctl status gitlab.service gitlab-db-config.service: on its first start GitLab migrates its database, which can take longer on a small host (raise gitlab.register.waitTimeout)."
        }"
      fi
      echo "waiting for GitLab at ${cfg.gitlab.url} ($status); next check in $delay s" >&2
      sleep "$delay"
      delay=$((delay * 2 > 60 ? 60 : delay * 2))
    done
  '';

  register = pkgs.writeShellScript "gitlab-mattermost-oauth" ''
    set -euo pipefail
    umask 077

    have_credentials() {
      for file in ${credentialFiles}; do
        [ -s "$file" ] || return 1
      done
    }

    # Every failure ends here: what went wrong, what it means for Mattermost, what to do.
    fail() {
      {
        echo "gitlab-mattermost-oauth: $1"
        if have_credentials; then
          echo "Mattermost keeps the OAuth id and secret of the last registration."
        else
          echo "Mattermost needs the OAuth application's id and secret from this registration:"
          echo "it does not start before it succeeds, and is started then."
        fi
        echo "systemd runs this unit again with growing delays (1 to 30 min). To retry now:"
        echo "systemctl restart gitlab-mattermost-oauth.service"
      } >&2
      exit 1
    }

    # The registration inputs are those of the last successful run and the credentials are
    # there: nothing to ask GitLab (at boot, on a switch that changed other settings, or when
    # GitLab is down).
    if have_credentials && [ "$(cat ${stamp} 2>/dev/null || true)" = ${inputsHash} ]; then
      echo "gitlab-mattermost-oauth: the registration is current (GitLab URL, site URL, scope and trust as at the last registration, credentials in place). To register again anyway: rm ${stamp}; systemctl restart gitlab-mattermost-oauth.service"
      rm -f ${stateDir}/mattermost-waits
      exit 0
    fi

    # Without credentials Mattermost's start is refused (AssertFileNotEmpty=); whichever later
    # run succeeds starts it. The mark is made first, so a run that is killed keeps it.
    have_credentials || touch ${stateDir}/mattermost-waits

    credentials() {
      { cat ${credentialFiles} 2>/dev/null || true; } | sha256sum
    }
    before="$(credentials)"

    ${waitForGitlab}

    ${
      if createToken then
        ''
          # No token given: make a short-lived one for the administrator. It is removed, and
          # revoked in GitLab, however the run ends (finish.rb revokes it on success).
          token_file=${stateDir}/admin-token
          token_made=0
          cleanup() {
            rm -f "$token_file"
            if [ "$token_made" = 1 ]; then
              GITLAB_MATTERMOST_APP_ID=''' GITLAB_MATTERMOST_REVOKE_FOR=${lib.escapeShellArg reg.adminUser} \
                runuser -u ${gitlab.user} -- gitlab-rails runner ${./gitlab/finish.rb} \
                || echo "gitlab-mattermost-oauth: could not revoke the temporary token of ${reg.adminUser} (it expires within a day)" >&2
            fi
          }
          trap cleanup EXIT
          token_made=1
          head -c 15 /dev/urandom | base64 | tr '+/' '-_' > "$token_file"
          GITLAB_MATTERMOST_TOKEN="$(cat "$token_file")" runuser -u ${gitlab.user} -- \
            gitlab-rails runner ${./gitlab/create-token.rb} ${lib.escapeShellArg reg.adminUser} \
            || fail "gitlab-rails could not make a token for GitLab user ${reg.adminUser} (gitlab.register.adminUser; the message above says why)."
        ''
      else
        "token_file=${lib.escapeShellArg reg.tokenFile}"
    }

    attempt=1
    until gitlab-mattermost gitlab register ${registrationConfig} --token-file "$token_file"; do
      if [ "$attempt" -ge ${toString registerAttempts} ]; then
        ${lib.optionalString createToken ''rm -f "$token_file"''}
        fail "GitLab at ${cfg.gitlab.url} answers but did not take the registration ${toString registerAttempts} times; the message above says why${
          lib.optionalString (!createToken) " (a token in gitlab.register.tokenFile that is wrong, expired, lacks scope api or is not an administrator's is the usual cause)"
        }."
      fi
      echo "registration attempt $attempt failed; retrying in $((attempt * 15)) s" >&2
      sleep $((attempt * 15))
      attempt=$((attempt + 1))
    done

    ${lib.optionalString (reg.trust || createToken) ''
      GITLAB_MATTERMOST_APP_ID="$(cat ${lib.escapeShellArg cfg.gitlab.idFile})" \
      GITLAB_MATTERMOST_TRUST=${if reg.trust then "1" else "0"} \
      GITLAB_MATTERMOST_REVOKE_FOR=${lib.optionalString createToken (lib.escapeShellArg reg.adminUser)} \
        runuser -u ${gitlab.user} -- gitlab-rails runner ${./gitlab/finish.rb} \
        || fail "the application is registered, but gitlab-rails could not ${
          if reg.trust then "mark it trusted" else "revoke the temporary token"
        } (the message above says why)."
      ${lib.optionalString createToken "token_made=0"}
    ''}
    ${lib.optionalString createToken ''rm -f "$token_file"''}

    # Registered with these inputs: later runs skip until one of them changes.
    echo ${inputsHash} > ${stamp}.new
    mv ${stamp}.new ${stamp}

    if [ -e ${stateDir}/mattermost-waits ]; then
      # Mattermost's start was (or would have been) refused for want of credentials.
      rm -f ${stateDir}/mattermost-waits
      systemctl start --no-block mattermost.service
    elif [ "$(credentials)" != "$before" ]; then
      # A re-run (on switch, or by hand) changed them: Mattermost loads them at start.
      systemctl try-restart --no-block mattermost.service
    fi
  '';
in
{
  config = lib.mkIf (helpers.active config) (
    lib.mkMerge [
      (lib.mkIf local {
        # GitLab's own Mattermost link (gitlab.yml `production.mattermost`; extraConfig is
        # already under `production`): where users reach Mattermost, its site URL.
        services.gitlab.extraConfig.mattermost = {
          enabled = true;
          host = if cfg.siteUrl != null then cfg.siteUrl else cfg.externalUrl;
        };

        services.gitlab-mattermost.gitlab.url = lib.mkDefault gitlabUrl;
      })

      (lib.mkIf reg.enable {
        systemd.services.gitlab-mattermost-oauth = {
          description = "Register GitLab Mattermost as an OAuth application in GitLab";
          wantedBy = [ "multi-user.target" ];
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
            cfg.commandPackage
            pkgs.curl
            pkgs.util-linux
          ]
          ++ lib.optional local gitlabRails;
          # The compiler's HTTP client, curl and Mattermost trust what the host trusts
          # (security.pki), e.g. a GitLab with a private CA.
          environment.SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt";
          # Run again on switch when the registration inputs change (the script, which names
          # the file, changes with them too); other settings leave the unit as it is.
          restartTriggers = [ registrationConfig ];
          # systemd retries a failed run for as long as it takes (no start limit).
          unitConfig.StartLimitIntervalSec = 0;
          serviceConfig = helpers.oneshotSandbox // {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = register;
            StateDirectory = "gitlab-mattermost-oauth";
            StateDirectoryMode = "0700";
            # Where the id and secret go (when elsewhere than the state directory), and
            # GitLab's state, where gitlab-rails writes its logs and caches.
            ReadWritePaths = helpers.writablePaths (
              map dirOf credentialPaths ++ lib.optional local gitlab.statePath
            );
            # The wait for GitLab, then the token, the registration attempts and finish.rb.
            TimeoutStartSec = "${toString (reg.waitTimeout + 900)}s";
            Restart = "on-failure";
            RestartSec = "1min";
            RestartSteps = 5;
            RestartMaxDelaySec = "30min";
          };
        };

        # Mattermost waits for a registration only when it has no credentials yet (a first
        # start, or after they were removed). This unit stands between the two: it pulls in
        # the registration and is ordered before Mattermost, but not after the registration
        # (systemd orders jobs before it checks conditions, so an After= here would hold
        # Mattermost at every boot and switch for as long as the registration waits for
        # GitLab). With both files there it ends at once; without them it waits until the
        # registration has written them, for as long as one registration run may take. If
        # none succeeds by then, AssertFileNotEmpty= below refuses Mattermost's start, and
        # the run that succeeds later starts Mattermost (the script's mattermost-waits mark).
        # Not Requires= on the registration: a run that fails (GitLab away, an expired
        # token) would then also stop a Mattermost that has the credentials of an earlier
        # registration, and a unit whose start failed for a dependency is not started when
        # the dependency later recovers (https://github.com/systemd/systemd/issues/18856).
        systemd.services.gitlab-mattermost-oauth-wait = {
          description = "Hold Mattermost's first start until GitLab Mattermost is registered in GitLab";
          wants = [ "gitlab-mattermost-oauth.service" ];
          before = [ "mattermost.service" ];
          serviceConfig = {
            Type = "oneshot";
            ExecStart = pkgs.writeShellScript "gitlab-mattermost-oauth-wait" ''
              have_credentials() {
                for file in ${credentialFiles}; do
                  [ -s "$file" ] || return 1
                done
              }
              if ! have_credentials; then
                echo "Mattermost has no OAuth credentials yet: waiting for gitlab-mattermost-oauth.service to register it in GitLab" >&2
                until have_credentials; do
                  sleep 5
                done
              fi
            '';
            TimeoutStartSec = "${toString (reg.waitTimeout + 900)}s";
            # As root, which can see the credential files wherever they are; it only looks.
            ProtectSystem = "strict";
            ProtectHome = "read-only";
            PrivateTmp = true;
            PrivateNetwork = true;
            NoNewPrivileges = true;
          };
        };

        # AssertFileNotEmpty= refuses a start without credentials with the file's name,
        # instead of LoadCredential='s bare exit status 243.
        systemd.services.mattermost = {
          wants = [ "gitlab-mattermost-oauth-wait.service" ];
          after = [ "gitlab-mattermost-oauth-wait.service" ];
          unitConfig.AssertFileNotEmpty = credentialPaths;
        };
      })
    ]
  );
}
