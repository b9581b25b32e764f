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
    host:
    let
      hostLib = import ./host-lib.nix lib host;
    in
    hostLib.evalModules {
      # The module's `lib` argument, as NixOS passes it.
      specialArgs.lib = hostLib;
      modules = [
        ../../nixos-modules
        ./nixos-stubs.nix
        host.module
        {
          _module.args.pkgs = import ./fake-pkgs.nix {
            inherit lib;
            inherit (host) system;
          };
        }
      ];
    };

  # The stubs write no unit files; a dump of the definition holds the same strings.
  unitText =
    config: name: builtins.toJSON config.systemd.services.${lib.removeSuffix ".service" name};

  hostSpecs = import ./hosts.nix { inherit secretFile; };
  systems = lib.mapAttrs (_: evalSystem) hostSpecs;
  hosts = lib.mapAttrs (_: system: system.config) systems;

  checks = import ./expectations.nix {
    inherit (systems.minimal) options;
    inherit
      lib
      hosts
      hostSpecs
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

  # Every attribute path of the fake pkgs (down to a derivation, a function or a plain value;
  # `lib` is nixpkgs' own), which must all exist in the nixpkgs the flake pins: the hosts and
  # the module are evaluated against real nixpkgs too (checks/module-eval.nix), where an
  # attribute only the fake pkgs have aborts the evaluation.
  fakePkgs = import ./fake-pkgs.nix {
    inherit lib;
    system = "x86_64-linux";
  };
  attributePaths =
    prefix: set:
    lib.concatLists (
      lib.mapAttrsToList (
        name: value:
        let
          path = prefix ++ [ name ];
        in
        if
          name != "lib" && builtins.isAttrs value && !lib.isDerivation value && !(value ? type)
        then
          attributePaths path value
        else
          [ (lib.concatStringsSep "." path) ]
      ) set
    );
  # nixpkgs-attributes.txt: one attribute path a line, then where nixpkgs defines it.
  known = map (line: lib.head (lib.splitString " " line)) (
    lib.filter (line: line != "" && !lib.hasPrefix "#" line) (
      lib.splitString "\n" (builtins.readFile ./nixpkgs-attributes.txt)
    )
  );
  unknown = lib.filter (path: !builtins.elem path known) (attributePaths [ ] fakePkgs);
  fakePkgsCheck = {
    name =
      "fake-pkgs: every attribute exists in the pinned nixpkgs (nixpkgs-attributes.txt)"
      + lib.optionalString (unknown != [ ]) " (not there: ${lib.concatStringsSep ", " unknown})";
    ok = unknown == [ ];
  };

  # What the module hands the compiler for each host it accepts (every host not marked
  # `rejected`, the docs' snippets among them), for `gitlab-mattermost check`. The aarch64 host
  # only shows the module refuses other platforms.
  accepted = lib.attrNames (
    lib.filterAttrs (
      _: spec: !(spec.rejected or false) && spec.system == "x86_64-linux"
    ) hostSpecs
  );
  # The VM scenarios of checks/vm, evaluated over the stubs (vm.nix).
  vmScenarios = import ./vm.nix {
    inherit lib;
    fakePkgs = import ./fake-pkgs.nix {
      inherit lib;
      system = "x86_64-linux";
    };
  };

  # The oneshots read configurations of their own, cut down to what they use (the file each
  # names in restartTriggers): the compiler must accept those too.
  oneshotConfig =
    host: unit:
    builtins.unsafeDiscardStringContext
      (lib.head hosts.${host}.systemd.services.${unit}.restartTriggers).text;
in
{
  checks = map run (checks ++ [ fakePkgsCheck ] ++ vmScenarios.checks);
  configs =
    lib.genAttrs accepted (
      name:
      builtins.unsafeDiscardStringContext (
        builtins.toJSON hosts.${name}.services.gitlab-mattermost.finalConfig
      )
    )
    // {
      gitlabLocal-registration = oneshotConfig "gitlabLocal" "gitlab-mattermost-oauth";
      gitlabRemote-registration = oneshotConfig "gitlabRemote" "gitlab-mattermost-oauth";
      integrations-sync = oneshotConfig "integrations" "gitlab-mattermost-integrations";
      # Mattermost's own rendering is made from the configuration without its nginx section.
      custom-service = builtins.unsafeDiscardStringContext (
        hosts.custom.services.gitlab-mattermost.rendered.configFile.text
      );
    }
    // vmScenarios.configs;
}
