# Entry point of checks/eval/run: the expectations, evaluated over stub NixOS options and a
# fake pkgs. A check that throws is reported as an error instead of ending the run.
{
  libPath,
  secretFile,
  canary,
}:
let
  lib = import libPath;

  evalHost =
    { system, module }:
    (lib.evalModules {
      modules = [
        ../../nixos-modules
        ./nixos-stubs.nix
        module
        { _module.args.pkgs = import ./fake-pkgs.nix { inherit lib system; }; }
      ];
    }).config;

  # The stubs write no unit files; a dump of the definition holds the same strings.
  unitText =
    config: name: builtins.toJSON config.systemd.services.${lib.removeSuffix ".service" name};

  hosts = lib.mapAttrs (_: evalHost) (import ./hosts.nix { inherit secretFile; });

  checks = import ./expectations.nix {
    inherit
      lib
      hosts
      unitText
      secretFile
      canary
      ;
  };

  run =
    check:
    let
      result = builtins.tryEval (builtins.deepSeq check.ok check.ok);
    in
    {
      inherit (check) name;
      result =
        if !result.success then
          "error"
        else if result.value == true then
          "ok"
        else
          "FAILED";
    };
in
map run checks
