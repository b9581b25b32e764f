# Entry point of checks/eval/run: the expectations, evaluated over stub NixOS options and a
# fake pkgs (a check that throws is reported as an error instead of ending the run, one with a
# `skip` reason as skipped), and the configurations the module produced.
{
  libPath,
  secretFile,
  canary,
}:
let
  lib = import libPath;

  evalSystem =
    { system, module }:
    lib.evalModules {
      modules = [
        ../../nixos-modules
        ./nixos-stubs.nix
        module
        { _module.args.pkgs = import ./fake-pkgs.nix { inherit lib system; }; }
      ];
    };

  # The stubs write no unit files; a dump of the definition holds the same strings.
  unitText =
    config: name: builtins.toJSON config.systemd.services.${lib.removeSuffix ".service" name};

  systems = lib.mapAttrs (_: evalSystem) (import ./hosts.nix { inherit secretFile; });
  hosts = lib.mapAttrs (_: system: system.config) systems;

  checks = import ./expectations.nix {
    inherit (systems.minimal) options;
    inherit
      lib
      hosts
      unitText
      secretFile
      canary
      ;
  };

  # A check with a `skip` reason (a feature this version of the module does not have yet) is
  # reported as skipped, with the reason, and not evaluated.
  run =
    check:
    let
      result = builtins.tryEval (builtins.deepSeq check.ok check.ok);
      skip = check.skip or null;
    in
    {
      inherit (check) name;
      reason = if skip != null then skip else "";
      result =
        if skip != null then
          "SKIPPED"
        else if !result.success then
          "error"
        else if result.value == true then
          "ok"
        else
          "FAILED";
    };

  # What the module hands the compiler for each host it accepts, for `gitlab-mattermost check`.
  accepted = [
    "minimal"
    "custom"
    "gitlabLocal"
    "gitlabRemote"
    "integrations"
    "mattermost11"
  ];
in
{
  checks = map run checks;
  configs = lib.genAttrs accepted (
    name:
    builtins.unsafeDiscardStringContext (
      builtins.toJSON hosts.${name}.services.gitlab-mattermost.finalConfig
    )
  );
}
