# The VM scenarios, one per file, each a NixOS test of its own.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  helpers = import ./lib.nix { inherit pkgs lib; };
  runTest =
    scenario:
    pkgs.testers.runNixOSTest {
      imports = [ (import scenario { inherit pkgs lib helpers; }) ];
      defaults.imports = [ self.nixosModules.default ];
      globalTimeout = 90 * 60;
    };
in
{
  vm-basic = runTest ./basic.nix;
  vm-oauth = runTest ./oauth.nix;
  vm-smtp = runTest ./smtp.nix;
  vm-gitlab-local = runTest ./gitlab-local.nix;
}
