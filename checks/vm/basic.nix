# vm-basic: Mattermost behind nginx over https. The API and a websocket upgrade pass nginx,
# a setting the module sets is locked in Mattermost, the account has the configured ids, and
# the host's own systemd override reaches the compiler's unit as a drop-in.
{ helpers, ... }:
{
  name = "gitlab-mattermost-basic";

  nodes.machine = {
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

    machine.start()
    wait_for_mattermost(machine)

    with subtest("the account has the configured ids"):
        machine.succeed('test "$(id -u mattermost)" = 2001')
        machine.succeed('test "$(id -g mattermost)" = 2002')

    with subtest("the unit is the rendered one; NixOS's part and the host's override are a drop-in"):
        fragment = machine.succeed(
            "readlink -f \"$(systemctl show -P FragmentPath mattermost.service)\""
        )
        assert "-gitlab-mattermost-rendered/" in fragment, fragment
        dropins = machine.succeed("systemctl show -P DropInPaths mattermost.service")
        assert "overrides.conf" in dropins, dropins
        timeout = machine.succeed("systemctl show -P TimeoutStopUSec mattermost.service").strip()
        assert timeout == "2min 3s", timeout

    with subtest("the API answers through nginx over https"):
        ping = json.loads(machine.succeed("curl -sSf https://mattermost.test/api/v4/system/ping"))
        assert ping["status"] == "OK", ping

    with subtest("a websocket upgrade passes nginx"):
        machine.succeed("websocket-upgrade https://mattermost.test/api/v4/websocket")

    with subtest("settings from the module are locked in Mattermost"):
        create_user(machine, "admin", "admin@example.org", PASSWORD, admin=True)
        environment = api(machine, "GET", "/api/v4/config/environment", login=f"admin:{PASSWORD}")
        assert environment["TeamSettings"]["SiteName"] is True, environment
        assert environment["ServiceSettings"]["SiteURL"] is True, environment
        client = api(machine, "GET", "/api/v4/config/client?format=old")
        assert client["SiteName"] == "Basic Test Chat", client
  '';
}
