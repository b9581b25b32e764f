# vm-basic: Mattermost behind nginx over https. The API and a websocket upgrade pass nginx,
# a setting the module sets is locked in Mattermost, the account has the configured ids, and
# the host's own systemd override reaches the compiler's unit as a drop-in.
{ helpers, ... }:
{
  name = "gitlab-mattermost-basic";

  nodes.mattermost = {
    imports = [ helpers.mattermost ];
    services.gitlab-mattermost = {
      account = {
        uid = 2001;
        gid = 2002;
      };
      settings.TeamSettings.SiteName = "Basic Test Chat";
    };
    systemd.services.mattermost.serviceConfig.TimeoutStopSec = "123s";
  };

  testScript = ''
    ${helpers.pythonHelpers}
    PASSWORD = "Test-Passw0rd!"

    mattermost.start()
    wait_for_mattermost(mattermost)

    with subtest("the account has the configured ids"):
        mattermost.succeed('test "$(id -u mattermost)" = 2001')
        mattermost.succeed('test "$(id -g mattermost)" = 2002')

    with subtest("the unit is the rendered one; NixOS's part and the host's override are a drop-in"):
        fragment = mattermost.succeed(
            "readlink -f \"$(systemctl show -P FragmentPath mattermost.service)\""
        )
        assert "-gitlab-mattermost-rendered/" in fragment, fragment
        dropins = mattermost.succeed("systemctl show -P DropInPaths mattermost.service")
        assert "overrides.conf" in dropins, dropins
        timeout = mattermost.succeed("systemctl show -P TimeoutStopUSec mattermost.service").strip()
        assert timeout == "2min 3s", timeout

    with subtest("the API answers through nginx over https"):
        ping = json.loads(mattermost.succeed("curl -sSf https://mattermost.test/api/v4/system/ping"))
        assert ping["status"] == "OK", ping

    with subtest("a websocket upgrade passes nginx"):
        mattermost.succeed("websocket-upgrade https://mattermost.test/api/v4/websocket")

    with subtest("settings from the module are locked in Mattermost"):
        create_user(mattermost, "admin", "admin@example.org", PASSWORD, admin=True)
        environment = api(mattermost, "GET", "/api/v4/config/environment", login=f"admin:{PASSWORD}")
        assert environment["TeamSettings"]["SiteName"] is True, environment
        assert environment["ServiceSettings"]["SiteURL"] is True, environment
        client = api(mattermost, "GET", "/api/v4/config/client?format=old")
        assert client["SiteName"] == "Basic Test Chat", client
  '';
}
