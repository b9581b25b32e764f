# The VM scenarios, one per file, each a NixOS test of its own.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  helpers = import ./lib.nix { inherit pkgs lib; };
  # The 10.11 ESR as nixos-25.11 ships it (the flake's second nixpkgs input), for the
  # upgrade test only: substituted from that release's binary cache, not built here.
  mattermostOld =
    self.inputs.nixpkgs-25-11.legacyPackages.${pkgs.stdenv.hostPlatform.system}.mattermost;
  runTest =
    scenario:
    pkgs.testers.runNixOSTest {
      imports = [
        (import scenario {
          inherit
            pkgs
            lib
            helpers
            mattermostOld
            ;
        })
      ];
      defaults.imports = [ self.nixosModules.default ];
      globalTimeout = 90 * 60;
    };
in
{
  vm-basic = runTest ./basic.nix;
  vm-oauth = runTest ./oauth.nix;
  vm-smtp = runTest ./smtp.nix;
  vm-gitlab-local = runTest ./gitlab-local.nix;
  vm-upgrade = runTest ./upgrade.nix;
}
