# vm-oauth: "Sign in with GitLab". The module's oneshot on the Mattermost host registers the
# OAuth application in GitLab (another host) with an administrator's token; a scripted client
# signs in to GitLab, goes through Mattermost's GitLab login (the consent page first, then,
# with the application trusted, without it), and the Mattermost user then exists with the
# GitLab username and email. Then GitLab's Mattermost notifications, declared in
# services.gitlab-mattermost.integrations: the module's sync oneshot creates the webhook and
# sets up a GitLab project's integration, and a push to that project appears in the channel.
#
# First boot, the way it goes wrong on a real host: the token does not exist in GitLab yet
# when GitLab comes up, so the oneshot's first run fails. Mattermost must not start without
# credentials, the failure must say what to do, and systemd's retry must register and start
# Mattermost without anyone's help. A run whose registration inputs are unchanged asks GitLab
# nothing. A re-registration that fails (the token revoked) must leave the running Mattermost
# alone, and a reboot with GitLab down must bring Mattermost up on its credentials without
# waiting for the registration.
{
  pkgs,
  lib,
  helpers,
  ...
}:
let
  inherit (helpers) certs;

  # From 11.0 Mattermost Team Edition advertises "Sign in with GitLab" only with a license
  # carrying the OpenId feature; without one, the module's gitlab.allowTeamEditionRoute leads
  # users through /gitlab-sign-in to the route that still works. This is what NixOS 26.05
  # ships (pkgs.mattermost, the 11.7 ESR), so that is what the test signs in through.
  mattermostPackage =
    assert lib.assertMsg (lib.versionAtLeast pkgs.mattermost.version "11.7") ''
      vm-oauth tests the 11.7 ESR that NixOS 26.05 ships, but pkgs.mattermost is
      ${pkgs.mattermost.version} at this nixpkgs (the flake pins nixos-26.05).
    '';
    pkgs.mattermost;

  # 20 characters, as GitLab's personal access tokens made with set_token must be.
  token = "vmtest-token-1234567";
  gitlabPassword = "Gl-vmtest-7Kq2xP9w";
  # The module's own GitLab scripts, run on the GitLab host by the test.
  createToken = "${../../nixos-modules/gitlab/create-token.rb}";
  finish = "${../../nixos-modules/gitlab/finish.rb}";
in
{
  name = "gitlab-mattermost-oauth";

  # The shape of nixpkgs' own GitLab test (nixos/tests/gitlab), with https: GitLab's session
  # cookie is Secure when gitlab.https is set, so a client only keeps it over https.
  nodes.gitlab = {
    imports = [ helpers.common ];
    virtualisation = {
      memorySize = 6144;
      cores = 4;
      useNixStoreImage = true;
      writableStore = false;
      # The store image holds the system's closure only.
      additionalPaths = [
        createToken
        finish
      ];
    };
    systemd.services = lib.genAttrs [ "gitlab" "gitlab-workhorse" "gitaly" "gitlab-sidekiq" ] (_: {
      serviceConfig.Restart = lib.mkForce "no";
    });
    networking.firewall.allowedTCPPorts = [ 443 ];

    services.nginx = {
      enable = true;
      recommendedProxySettings = true;
      virtualHosts."gitlab.test" = {
        onlySSL = true;
        sslCertificate = "${certs}/gitlab.test.pem";
        sslCertificateKey = "${certs}/gitlab.test.key";
        locations."/".proxyPass = "http://unix:/run/gitlab/gitlab-workhorse.socket";
      };
    };

    services.gitlab = helpers.gitlab;
  };

  nodes.mattermost = {
    imports = [
      helpers.mattermost
      (helpers.secret {
        name = "gitlab-token";
        source = pkgs.writeText "gitlab-token" token;
      })
    ];
    services.gitlab-mattermost = {
      package = mattermostPackage;
      gitlab = {
        url = "https://gitlab.test";
        # On an 11 package (Team Edition) the sign-in goes through /gitlab-sign-in.
        allowTeamEditionRoute = true;
        # GitLab is on the other host: the token comes from a file, and marking the
        # application trusted is left to the test (finish.rb on the GitLab host).
        register = {
          enable = true;
          tokenFile = helpers.secretPath "gitlab-token";
          # The GitLab VM takes up to half an hour to answer.
          waitTimeout = 3600;
        };
      };
      # GitLab users may sign up on their first login.
      settings.TeamSettings.EnableOpenServer = true;
      # GitLab's notifications of root/project go to town-square of team "engineering".
      # The team and the owner are made by the test, so the boot-time sync fails (and is
      # run again by the test once they exist).
      integrations = {
        owner = "mmadmin";
        incomingWebhooks.gitlab = {
          team = "engineering";
          channel = "town-square";
          description = "GitLab notifications";
        };
        gitlabProjects."root/project" = {
          webhook = "gitlab";
          username = "GitLab";
          events = [
            "push"
            "merge_request"
          ];
          branchesToBeNotified = "all";
        };
        sync = {
          tokenFile = helpers.secretPath "gitlab-token";
          attempts = 1;
        };
      };
    };
  };

  testScript = ''
    ${helpers.pythonHelpers}
    PASSWORD = "Test-Passw0rd!"
    TOKEN = "${token}"
    GITLAB_PASSWORD = "${gitlabPassword}"
    MM_ADMIN = f"mmadmin:{PASSWORD}"
    ID_FILE = "/var/lib/gitlab-mattermost-oauth/gitlab-id"
    STAMP = "/var/lib/gitlab-mattermost-oauth/registered-inputs"


    def gitlab_api(method, path, body=None):
        command = [
            "curl", "-sSf", "-X", method, "-H", f"PRIVATE-TOKEN: {TOKEN}",
            f"https://gitlab.test/api/v4{path}",
        ]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        return json.loads(gitlab.succeed(shlex.join(command)))


    def registered_apps():
        return [
            app for app in gitlab_api("GET", "/applications")
            if app["application_name"] == "GitLab Mattermost"
        ]


    def sign_in(user, expect):
        mattermost.succeed(
            "oauth-login --gitlab https://gitlab.test --mattermost https://mattermost.test"
            + f" --user {user} --password {shlex.quote(GITLAB_PASSWORD)} --expect {expect}"
            + " --start /gitlab-sign-in"
        )
        member = api(mattermost, "GET", f"/api/v4/users/username/{user}", login=MM_ADMIN)
        assert member["email"] == f"{user}@example.org", member
        assert member["auth_service"] == "gitlab", member


    start_all()

    with subtest("GitLab starts"):
        for unit in ["gitaly.service", "gitlab-workhorse.service", "gitlab.service", "gitlab-sidekiq.service"]:
            gitlab.wait_for_unit(unit, timeout=1800)
        gitlab.wait_for_file("/var/gitlab/state/tmp/sockets/gitlab.socket")
        gitlab.wait_until_succeeds("curl -sSf https://gitlab.test/users/sign_in", timeout=900)

    with subtest("before the token exists, the oneshot fails saying what to do, and Mattermost waits"):
        oauth_log = "journalctl -b -u gitlab-mattermost-oauth.service --no-pager"
        mattermost.wait_until_succeeds(f"{oauth_log} --grep 'did not take the registration'", timeout=900)
        log = mattermost.succeed(oauth_log)
        assert "GitLab rejected the token" in log, log
        assert "systemctl restart gitlab-mattermost-oauth.service" in log, log
        assert "it does not start before it succeeds" in log, log
        mattermost.fail("systemctl is-active mattermost.service")
        # Refused by its assertion (no credentials), not started into LoadCredential='s failure.
        # (Its start job ran once the oneshot's failed, or is still queued behind the retry.)
        mattermost.succeed(
            "test \"$(systemctl show -P AssertResult mattermost.service)\" = no"
            + " || systemctl list-jobs --no-legend mattermost.service | grep -q start"
        )
        mattermost.fail("journalctl -b -u mattermost.service --no-pager --grep '243/CREDENTIALS'")

    with subtest("an administrator token, made with the module's own script"):
        gitlab.succeed(
            f"GITLAB_MATTERMOST_TOKEN={TOKEN} runuser -u gitlab -- gitlab-rails runner ${createToken} root"
        )

    with subtest("GitLab users"):
        for name in ("alice", "bob"):
            gitlab_api("POST", "/users", {
                "username": name,
                "name": name.title(),
                "email": f"{name}@example.org",
                "password": GITLAB_PASSWORD,
                "skip_confirmation": True,
            })

    with subtest("systemd runs the oneshot again: it registers the application and starts Mattermost"):
        # The first retry comes a minute after the failure, the next ones later.
        mattermost.wait_until_succeeds("systemctl is-active gitlab-mattermost-oauth.service", timeout=1200)
        restarts = int(mattermost.succeed("systemctl show -P NRestarts gitlab-mattermost-oauth.service"))
        assert restarts >= 1, restarts
        [app] = registered_apps()
        assert "https://mattermost.test/signup/gitlab/complete" in app["callback_url"], app
        app_id = mattermost.succeed(f"cat {ID_FILE}").strip()
        assert app["application_id"] == app_id, (app, app_id)
        # Nobody starts Mattermost here: the oneshot does.
        mattermost.wait_until_succeeds("systemctl is-active mattermost.service", timeout=300)

    wait_for_mattermost(mattermost)
    create_user(mattermost, "mmadmin", "mmadmin@example.org", PASSWORD, admin=True)

    with subtest("alice signs in with GitLab after consenting"):
        sign_in("alice", "consent")

    with subtest("once the application is trusted, bob signs in without a consent page"):
        gitlab.succeed(
            f"GITLAB_MATTERMOST_APP_ID={app_id} GITLAB_MATTERMOST_TRUST=1"
            + " runuser -u gitlab -- gitlab-rails runner ${finish}"
        )
        sign_in("bob", "trusted")

    with subtest("a run with the registration inputs unchanged asks GitLab nothing"):
        since = mattermost.succeed("date +%s").strip()
        mattermost.succeed("systemctl restart gitlab-mattermost-oauth.service")
        said = mattermost.succeed(
            f"journalctl -u gitlab-mattermost-oauth.service --since @{since} --no-pager -o cat"
        )
        assert "the registration is current" in said, said
        assert "waiting for GitLab" not in said, said

    with subtest("registering again keeps the one application"):
        # Without the stamp of the last registration's inputs, the run registers again.
        mattermost.succeed(f"rm {STAMP}")
        mattermost.succeed("systemctl restart gitlab-mattermost-oauth.service")
        mattermost.succeed(f"test -s {STAMP}")
        [app] = registered_apps()
        assert app["application_id"] == app_id, app
        assert mattermost.succeed(f"cat {ID_FILE}").strip() == app_id
        wait_for_mattermost(mattermost)

    with subtest("integrations: the sync creates the webhook and GitLab's integration"):
        team = api(mattermost, "POST", "/api/v4/teams", login=MM_ADMIN,
                   body={"name": "engineering", "display_name": "Engineering", "type": "O"})
        channel = api(mattermost, "GET", f"/api/v4/teams/{team['id']}/channels/name/town-square",
                      login=MM_ADMIN)
        project = gitlab_api("POST", "/projects", {"name": "project", "path": "project",
                                                   "initialize_with_readme": True})
        # GitLab refuses webhooks to private addresses (these VMs') unless allowed.
        gitlab_api("PUT", "/application/settings?allow_local_requests_from_web_hooks_and_services=true")
        mattermost.succeed("systemctl restart gitlab-mattermost-integrations.service")
        url = mattermost.succeed("cat /var/lib/gitlab-mattermost/integrations/webhook-gitlab.url").strip()
        assert url.startswith("https://mattermost.test/hooks/"), url
        assert mattermost.succeed(
            "stat -c %a /var/lib/gitlab-mattermost/integrations/webhook-gitlab.url"
        ).strip() == "600"
        hook = api(mattermost, "GET", "/api/v4/hooks/incoming/" + url.rsplit("/", 1)[1], login=MM_ADMIN)
        assert hook["channel_id"] == channel["id"], hook
        integration = gitlab_api("GET", f"/projects/{project['id']}/integrations/mattermost")
        assert integration["active"] and integration["push_events"], integration
        assert not integration["issues_events"], integration

    with subtest("integrations: a push to the project appears in the channel"):
        marker = "vm-test push to root/project"
        gitlab_api("POST", f"/projects/{project['id']}/repository/commits", {
            "branch": project.get("default_branch") or "main",
            "commit_message": marker,
            "actions": [{"action": "create", "file_path": "pushed.txt", "content": "pushed\n"}],
        })

        def pushed(_):
            posts = api(mattermost, "GET", f"/api/v4/channels/{channel['id']}/posts", login=MM_ADMIN)
            return any(
                marker in json.dumps(post) and post["props"].get("from_webhook") == "true"
                for post in posts["posts"].values()
            )

        # GitLab sends the notification from Sidekiq, asynchronously.
        retry(pushed, timeout=300)

    with subtest("integrations: a second sync changes nothing"):
        since = mattermost.succeed("date +%s").strip()
        mattermost.succeed("systemctl restart gitlab-mattermost-integrations.service")
        said = mattermost.succeed(
            f"journalctl -u gitlab-mattermost-integrations.service --since @{since} --no-pager -o cat"
        )
        assert "no changes" in said, said

    with subtest("a re-registration that fails leaves Mattermost running on its credentials"):
        main_pid = mattermost.succeed("systemctl show -P MainPID mattermost.service").strip()
        # The module's finish.rb revokes the tokens create-token.rb made: the test's token.
        gitlab.succeed(
            f"GITLAB_MATTERMOST_APP_ID={app_id} GITLAB_MATTERMOST_REVOKE_FOR=root"
            + " runuser -u gitlab -- gitlab-rails runner ${finish}"
        )
        mattermost.succeed(f"rm {STAMP}")
        mattermost.fail("systemctl restart gitlab-mattermost-oauth.service")
        log = mattermost.succeed(oauth_log)
        assert "Mattermost keeps the OAuth id and secret of the last registration" in log, log
        mattermost.succeed("systemctl is-active mattermost.service")
        assert mattermost.succeed("systemctl show -P MainPID mattermost.service").strip() == main_pid
        mattermost.succeed("curl -sSf https://mattermost.test/api/v4/system/ping")

    with subtest("a reboot with GitLab down: Mattermost starts on its credentials within a minute"):
        # GitLab is away and the registration is still pending (the failed run above left no
        # stamp): the oneshot waits for GitLab, Mattermost does not wait for the oneshot.
        gitlab.succeed("systemctl stop gitlab.service gitlab-workhorse.service")
        mattermost.shutdown()
        mattermost.start()
        # The boot and Mattermost's own start; the registration would wait for GitLab up to
        # gitlab.register.waitTimeout (an hour).
        mattermost.wait_for_unit("mattermost.service", timeout=120)
        mattermost.wait_until_succeeds("curl -sSf https://mattermost.test/api/v4/system/ping", timeout=60)
        # The unit between the registration and Mattermost found the credentials and did not
        # wait for the registration.
        wait_log = mattermost.succeed(
            "journalctl -b -u gitlab-mattermost-oauth-wait.service --no-pager -o cat"
        )
        assert "waiting for gitlab-mattermost-oauth.service" not in wait_log, wait_log
        state = mattermost.succeed("systemctl show -P ActiveState gitlab-mattermost-oauth.service").strip()
        assert state in ("activating", "failed"), state
  '';
}
