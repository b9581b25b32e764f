# vm-gitlab-local: GitLab and Mattermost on one host, the same-host flow the eval checks can
# only evaluate. On the first boot the OAuth oneshot waits for GitLab, makes an
# administrator's token with gitlab-rails (create-token.rb), registers the application,
# marks it trusted and revokes the token (finish.rb); Mattermost's first start waits for it,
# and that start starts the integrations sync (which finds no team yet and fails, and runs
# again once there is one). A user then signs in with GitLab without a consent page.
# Then a switch: a specialisation that changes only nginx settings keeps Mattermost running
# (same InvocationID), one that changes a Mattermost setting restarts it once; neither runs
# the registration or the sync again.
{
  pkgs,
  lib,
  helpers,
  ...
}:
let
  inherit (helpers) certs;
  gitlabPassword = "Gl-vmtest-7Kq2xP9w";
  # The test's own API token (20 characters, as set_token needs), made with gitlab-rails as
  # GitLab's documentation shows: no OAuth password grant, which GitLab 19 removed.
  token = "vmtest-token-7654321";
in
{
  name = "gitlab-mattermost-gitlab-local";

  nodes.mattermost =
    { ... }:
    {
      imports = [ helpers.mattermost ];

      # nixpkgs' GitLab test node (nixos/tests/gitlab), with Mattermost beside it.
      virtualisation = {
        memorySize = 8192;
        cores = 4;
        useNixStoreImage = true;
        writableStore = false;
      };
      systemd.services = lib.genAttrs [ "gitlab" "gitlab-workhorse" "gitaly" "gitlab-sidekiq" ] (_: {
        serviceConfig.Restart = lib.mkForce "no";
      });
      # GitLab's name on this host.
      networking.hosts."127.0.0.1" = [ "gitlab.test" ];

      services.nginx.virtualHosts."gitlab.test" = {
        onlySSL = true;
        sslCertificate = "${certs}/gitlab.test.pem";
        sslCertificateKey = "${certs}/gitlab.test.key";
        locations."/" = {
          proxyPass = "http://unix:/run/gitlab/gitlab-workhorse.socket";
          recommendedProxySettings = true;
        };
      };

      services.gitlab = helpers.gitlab;

      services.gitlab-mattermost = {
        # gitlab.url defaults to https://gitlab.test (services.gitlab); no token file: the
        # oneshot makes one with gitlab-rails, and marks the application trusted.
        gitlab = {
          allowTeamEditionRoute = true;
          register = {
            enable = true;
            # GitLab's first start (database migrations) on a small VM.
            waitTimeout = 3600;
          };
        };
        settings.TeamSettings.EnableOpenServer = true;
        integrations = {
          owner = "mmadmin";
          incomingWebhooks.gitlab = {
            team = "engineering";
            channel = "town-square";
          };
          # A token for the sync is made with gitlab-rails too.
          gitlabProjects."root/project" = {
            webhook = "gitlab";
            events = [ "push" ];
          };
          sync.attempts = 3;
        };
      };

      specialisation = {
        # nginx settings only: Mattermost's rendering is the same.
        nginxOnly.configuration.services.gitlab-mattermost.nginx.clientMaxBodySize = "50m";
        # A Mattermost setting: Mattermost restarts, registration and sync do not run.
        settingChange.configuration.services.gitlab-mattermost.settings.TeamSettings.SiteName =
          "Renamed Chat";
      };
    };

  testScript =
    { nodes, ... }:
    let
      toplevel = nodes.mattermost.system.build.toplevel;
    in
    ''
      ${helpers.pythonHelpers}
      import re

      PASSWORD = "Test-Passw0rd!"
      GITLAB_PASSWORD = "${gitlabPassword}"
      MM_ADMIN = f"mmadmin:{PASSWORD}"
      STATE = "/var/lib/gitlab-mattermost-oauth"


      def show(unit, prop):
          return mattermost.succeed(f"systemctl show -P {prop} {unit}").strip()


      def rails(code):
          return mattermost.succeed(
              "runuser -u gitlab -- gitlab-rails runner " + shlex.quote(code)
          ).strip()


      def gitlab_api(method, path, body=None):
          command = [
              "curl", "-sSf", "-X", method, "-H", "PRIVATE-TOKEN: ${token}",
              f"https://gitlab.test/api/v4{path}",
          ]
          if body is not None:
              command += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
          return json.loads(mattermost.succeed(shlex.join(command)))


      def switch(to):
          since = mattermost.succeed("date +%s").strip()
          mattermost.succeed(f"{to}/bin/switch-to-configuration test")
          return since


      mattermost.start()

      with subtest("GitLab starts"):
          for unit in ["gitaly.service", "gitlab-workhorse.service", "gitlab.service", "gitlab-sidekiq.service"]:
              mattermost.wait_for_unit(unit, timeout=1800)
          mattermost.wait_for_file("/var/gitlab/state/tmp/sockets/gitlab.socket")
          mattermost.wait_until_succeeds("curl -sSf https://gitlab.test/users/sign_in", timeout=900)

      with subtest("first boot: registration with a gitlab-rails token, then Mattermost"):
          mattermost.wait_for_unit("gitlab-mattermost-oauth.service", timeout=1800)
          wait_for_mattermost(mattermost)
          mattermost.succeed(f"test -s {STATE}/gitlab-id -a -s {STATE}/gitlab-secret -a -s {STATE}/registered-inputs")
          # Mattermost's first start came after the registration wrote the credentials.
          registered = int(show("gitlab-mattermost-oauth.service", "ExecMainExitTimestampMonotonic"))
          started = int(show("mattermost.service", "ExecMainStartTimestampMonotonic"))
          assert started >= registered, (started, registered)
          app_id = mattermost.succeed(f"cat {STATE}/gitlab-id").strip()
          trusted = rails(
              "model = defined?(Authn::OauthApplication) ? Authn::OauthApplication : Doorkeeper::Application; "
              f"puts model.find_by!(uid: '{app_id}').trusted"
          )
          assert trusted == "true", trusted
          # The temporary token is revoked, and not left on disk.
          active = rails(
              "puts User.find_by_username!('root').personal_access_tokens.active"
              ".where(name: 'gitlab-mattermost-oauth').count"
          )
          assert active == "0", active
          mattermost.fail(f"test -e {STATE}/admin-token")

      with subtest("first boot: Mattermost's start started the integrations sync"):
          # No team "engineering" yet: the sync fails, but it ran after Mattermost started
          # (it is not a dependency that failed with Mattermost's refused start).
          mattermost.wait_until_succeeds(
              "test \"$(systemctl show -P ActiveState gitlab-mattermost-integrations.service)\" != activating",
              timeout=300,
          )
          sync_start = int(show("gitlab-mattermost-integrations.service", "ExecMainStartTimestampMonotonic"))
          assert sync_start >= started, (sync_start, started)
          mattermost.fail(
              "journalctl -b -u gitlab-mattermost-integrations.service --no-pager --grep 'Dependency failed'"
          )

      with subtest("the sync succeeds once the team and the project exist"):
          create_user(mattermost, "mmadmin", "mmadmin@example.org", PASSWORD, admin=True)
          api(mattermost, "POST", "/api/v4/teams", login=MM_ADMIN,
              body={"name": "engineering", "display_name": "Engineering", "type": "O"})
          rails(
              "t = User.find_by_username!('root').personal_access_tokens.create("
              "scopes: ['api'], name: 'vmtest', expires_at: 30.days.from_now); "
              "t.set_token('${token}'); t.save!"
          )
          gitlab_api("POST", "/projects", {"name": "project", "path": "project",
                                           "initialize_with_readme": True})
          # GitLab refuses webhooks to private addresses (this VM's) unless allowed.
          gitlab_api("PUT", "/application/settings?allow_local_requests_from_web_hooks_and_services=true")
          mattermost.succeed("systemctl restart gitlab-mattermost-integrations.service")
          active = rails(
              "puts User.find_by_username!('root').personal_access_tokens.active"
              ".where(name: 'gitlab-mattermost-integrations').count"
          )
          assert active == "0", active

      with subtest("a GitLab user signs in without a consent page (the application is trusted)"):
          gitlab_api("POST", "/users", {
              "username": "alice",
              "name": "Alice",
              "email": "alice@example.org",
              "password": GITLAB_PASSWORD,
              "skip_confirmation": True,
          })
          mattermost.succeed(
              "oauth-login --gitlab https://gitlab.test --mattermost https://mattermost.test"
              + f" --user alice --password {shlex.quote(GITLAB_PASSWORD)} --expect trusted"
              + " --start /gitlab-sign-in"
          )
          member = api(mattermost, "GET", "/api/v4/users/username/alice", login=MM_ADMIN)
          assert member["auth_service"] == "gitlab", member

      oauth_id = show("gitlab-mattermost-oauth.service", "InvocationID")
      sync_id = show("gitlab-mattermost-integrations.service", "InvocationID")
      mattermost_id = show("mattermost.service", "InvocationID")

      with subtest("switch: an nginx-only change reloads nginx and keeps Mattermost running"):
          switch("${toplevel}/specialisation/nginxOnly")
          conf = re.search(r"-c '?([^' ;]+)", show("nginx.service", "ExecStart")).group(1)
          mattermost.succeed(f"grep -q 'client_max_body_size 50m' {conf}")
          assert show("mattermost.service", "InvocationID") == mattermost_id
          assert show("gitlab-mattermost-oauth.service", "InvocationID") == oauth_id
          assert show("gitlab-mattermost-integrations.service", "InvocationID") == sync_id
          mattermost.succeed("curl -sSf https://mattermost.test/api/v4/system/ping")

      with subtest("switch: a Mattermost setting restarts Mattermost once, nothing else"):
          since = switch("${toplevel}/specialisation/settingChange")
          wait_for_mattermost(mattermost)
          assert show("mattermost.service", "InvocationID") != mattermost_id
          starts = mattermost.succeed(
              f"journalctl -u mattermost.service --since @{since} --no-pager -o cat | grep -c '^Started' || true"
          ).strip()
          assert starts == "1", starts
          assert show("gitlab-mattermost-oauth.service", "InvocationID") == oauth_id
          assert show("gitlab-mattermost-integrations.service", "InvocationID") == sync_id
          client = api(mattermost, "GET", "/api/v4/config/client?format=old")
          assert client["SiteName"] == "Renamed Chat", client

      with subtest("switch back"):
          switch("${toplevel}")
          wait_for_mattermost(mattermost)
    '';
}
