# vm-upgrade: the one-way move from the 10.11 ESR (pkgs.mattermost of nixos-25.11, the
# flake's second nixpkgs input, fetched from its binary cache rather than built here) to the
# 11.7 ESR of nixos-26.05, as a host makes it with one switch. Before the new release starts,
# the upgrade guard backs up what it is about to migrate; the data made on 10.11 is there on
# 11.7.
{
  pkgs,
  lib,
  helpers,
  mattermostOld,
  ...
}:
let
  mattermostOldPackage =
    assert lib.assertMsg (lib.versions.majorMinor mattermostOld.version == "10.11") ''
      vm-upgrade starts from the 10.11 ESR, but the nixos-25.11 input's pkgs.mattermost is
      ${mattermostOld.version}.
    '';
    mattermostOld;
in
{
  name = "gitlab-mattermost-upgrade";

  nodes.mattermost =
    { ... }:
    {
      imports = [ helpers.mattermost ];
      virtualisation.memorySize = 3072;
      # The 10.11 ESR, knowingly past its end of life (helpers.mattermost says so for 10.11);
      # mattermost.version follows the package.
      services.gitlab-mattermost.package = mattermostOldPackage;
      specialisation.upgraded.configuration.services.gitlab-mattermost.package =
        lib.mkForce pkgs.mattermost;
    };

  testScript =
    { nodes, ... }:
    let
      toplevel = nodes.mattermost.system.build.toplevel;
    in
    ''
      ${helpers.pythonHelpers}
      PASSWORD = "Test-Passw0rd!"
      ADMIN = f"admin:{PASSWORD}"


      def version():
          return api(mattermost, "GET", "/api/v4/config/client?format=old")["Version"]


      mattermost.start()
      wait_for_mattermost(mattermost)

      with subtest("10.11 runs and holds a team, a channel post"):
          assert version().startswith("10.11."), version()
          create_user(mattermost, "admin", "admin@example.org", PASSWORD, admin=True)
          team = api(mattermost, "POST", "/api/v4/teams", login=ADMIN,
                     body={"name": "engineering", "display_name": "Engineering", "type": "O"})
          channel = api(mattermost, "GET", f"/api/v4/teams/{team['id']}/channels/name/town-square",
                        login=ADMIN)
          post = api(mattermost, "POST", "/api/v4/posts", login=ADMIN,
                     body={"channel_id": channel["id"], "message": "made on 10.11"})

      with subtest("one switch moves to 11.7: backed up first, then migrated"):
          mattermost.succeed("${toplevel}/specialisation/upgraded/bin/switch-to-configuration test")
          # The database migration of the first 11 start takes a while on a small VM.
          wait_for_mattermost(mattermost)
          assert version().startswith("11.7."), version()
          mattermost.succeed("test -n \"$(ls -A /var/lib/gitlab-mattermost/upgrades)\"")

      with subtest("what 10.11 made is there on 11.7"):
          again = api(mattermost, "GET", f"/api/v4/posts/{post['id']}", login=ADMIN)
          assert again["message"] == "made on 10.11", again
          assert api(mattermost, "GET", "/api/v4/teams/name/engineering", login=ADMIN)["id"] == team["id"]
    '';
}
