# Every VM scenario of checks/vm, evaluated as far as it can be without nixpkgs: each is
# imported as checks/vm/default.nix imports it, each node's configuration is evaluated with
# the module over the stubs (nixos-stubs.nix, vm-stubs.nix), and its test script is built
# from the nodes. A scenario that does not evaluate, a node that the module's assertions
# reject, or a test script that is not a string is a failed check.
{
  lib,
  fakePkgs,
}:
let
  helpers = import ../vm/lib.nix {
    inherit lib;
    pkgs = fakePkgs;
  };
  # What nixos-25.11 has as pkgs.mattermost, for the upgrade scenario.
  mattermostOld = fakePkgs.mattermost // {
    version = "10.11.18";
  };

  scenarios = lib.genAttrs [ "basic" "oauth" "smtp" "gitlab-local" "upgrade" ] (
    name:
    import ../vm/${name}.nix {
      inherit lib helpers mattermostOld;
      pkgs = fakePkgs;
    }
  );

  evalNodes =
    scenario:
    let
      nodes = lib.mapAttrs (
        _: node:
        (lib.evalModules {
          specialArgs.lib = lib;
          modules = [
            ../../nixos-modules
            ./nixos-stubs.nix
            ./vm-stubs.nix
            node
            {
              _module.args = {
                pkgs = fakePkgs;
                inherit nodes;
              };
            }
          ];
        }).config
      ) scenario.nodes;
    in
    nodes;

  ours = message: lib.hasInfix "services.gitlab-mattermost" message;
  failedAssertions =
    config: lib.filter ours (map (a: a.message) (lib.filter (a: !a.assertion) config.assertions));

  check =
    name: scenario:
    let
      nodes = evalNodes scenario;
      script =
        if builtins.isFunction scenario.testScript then
          scenario.testScript { inherit nodes; }
        else
          scenario.testScript;
    in
    {
      name = "vm-${name}: the scenario's nodes evaluate with the module and its test script builds";
      ok =
        builtins.isString scenario.name
        && lib.all (config: failedAssertions config == [ ]) (lib.attrValues nodes)
        && builtins.isString (builtins.unsafeDiscardStringContext script);
    };
in
{
  checks = lib.mapAttrsToList check scenarios;
  # What the module hands the compiler on each node that runs it, for `gitlab-mattermost check`.
  configs = lib.concatMapAttrs (
    name: scenario:
    lib.concatMapAttrs (
      node: config:
      lib.optionalAttrs config.services.gitlab-mattermost.enable {
        "vm-${name}-${node}" = builtins.unsafeDiscardStringContext (
          builtins.toJSON config.services.gitlab-mattermost.finalConfig
        );
      }
    ) (evalNodes scenario)
  ) scenarios;
}
