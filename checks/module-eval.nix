# module-eval: real NixOS systems (nixpkgs.lib.nixosSystem) with the module, checked against
# eval/expectations.nix, the same expectations checks/eval/run checks over stub options.
# The evaluation happens while Nix evaluates this check; the build then renders the hosts'
# configurations with the compiler and writes the report.
{
  nixpkgs,
  pkgs,
  self,
}:
let
  inherit (pkgs) lib;

  canary = "module-eval-canary-5e0c1d3b";
  # A file in the store, so that pure evaluation could read it: a module that read a secret
  # would then leak the canary into what it writes.
  secretFile = toString (builtins.toFile "module-eval-secret" canary);

  evalSystem =
    host:
    nixpkgs.lib.nixosSystem {
      # A host with `release` gets a lib that reports that NixOS release (eval/host-lib.nix).
      lib = import ./eval/host-lib.nix nixpkgs.lib host;
      modules = [
        self.nixosModules.default
        host.module
        {
          nixpkgs.hostPlatform = host.system;
          system.stateVersion = "26.05";
          boot.loader.grub.enable = false;
          fileSystems."/" = {
            device = "/dev/vda";
            fsType = "ext4";
          };
        }
      ];
    };

  unitText = config: name: config.systemd.units.${name}.text;

  systems = lib.mapAttrs (_: evalSystem) (import ./eval/hosts.nix { inherit secretFile; });
  hosts = lib.mapAttrs (_: system: system.config) systems;

  checks = import ./eval/expectations.nix {
    inherit (systems.minimal) options;
    inherit
      lib
      hosts
      unitText
      secretFile
      canary
      ;
  };

  # A check with a `skip` reason (a feature this version of the module lacks) is not evaluated.
  skipped = lib.filter (check: (check.skip or null) != null) checks;
  evaluated = lib.filter (check: (check.skip or null) == null) checks;
  failures = lib.filter (check: !check.ok) evaluated;
in
assert lib.assertMsg (failures == [ ]) ''
  module-eval: ${toString (lib.length failures)} check(s) failed:
  ${lib.concatMapStringsSep "\n" (check: "  - ${check.name}") failures}
'';
pkgs.runCommand "gitlab-mattermost-module-eval"
  {
    # The compiler must accept what the module hands it.
    rendered = map (name: hosts.${name}.services.gitlab-mattermost.rendered) [
      "minimal"
      "custom"
      "gitlabLocal"
    ];
    # nginx.conf with the compiler's includes, built as NixOS builds it: the build runs gixy,
    # which also reads the included files.
    nginx = map (name: toString hosts.${name}.systemd.services.nginx.serviceConfig.ExecStart) [
      "minimal"
      "custom"
    ];
    # A whole system evaluates (nothing of it is built).
    toplevel = builtins.unsafeDiscardStringContext hosts.minimal.system.build.toplevel.drvPath;
    report = lib.concatMapStringsSep "\n" (check: "ok ${check.name}") evaluated
      + lib.concatMapStrings (check: "\nSKIPPED ${check.name}: ${check.skip}") skipped;
    passAsFile = [ "report" ];
  }
  ''
    cp "$reportPath" $out
    echo "rendered: $rendered" >> $out
    echo "toplevel: $toplevel" >> $out
  ''
