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

  hostSpecs = import ./eval/hosts.nix { inherit secretFile; };
  systems = lib.mapAttrs (_: evalSystem) hostSpecs;
  hosts = lib.mapAttrs (_: system: system.config) systems;

  checks = import ./eval/expectations.nix {
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

  # The hosts the assertions accept, for this platform: each must evaluate to a whole system.
  accepted = lib.attrNames (
    lib.filterAttrs (
      _: host: !(host.rejected or false) && host.system == pkgs.stdenv.hostPlatform.system
    ) hostSpecs
  );

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
    nativeBuildInputs = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
    # The compiler must accept what the module hands it: every accepted host's renderings
    # (Mattermost's, from the configuration without nginx, and the whole one for nginx).
    rendered = lib.concatMap (name: [
      hosts.${name}.services.gitlab-mattermost.rendered
      hosts.${name}.services.gitlab-mattermost.renderedNginx
    ]) accepted;
    # The oneshots' own, cut-down configurations (the file each names in restartTriggers).
    oneshotConfigs = lib.concatMap (
      name:
      let
        units = hosts.${name}.systemd.services;
      in
      lib.concatMap (unit: lib.take 1 (units.${unit}.restartTriggers or [ ])) [
        "gitlab-mattermost-oauth"
        "gitlab-mattermost-integrations"
      ]
    ) accepted;
    # nginx.conf with the compiler's includes, built as NixOS builds it: the build runs gixy,
    # which also reads the included files.
    nginx = map (name: toString hosts.${name}.systemd.services.nginx.serviceConfig.ExecStart) (
      lib.filter (name: hosts.${name}.services.nginx.enable) accepted
    );
    # Every accepted host's whole system evaluates (the same-host GitLab flow, gitlab-rails
    # found by name, ACME, …); nothing of it is built (the context is dropped).
    toplevels = map (
      name:
      let
        drvPath = builtins.unsafeDiscardStringContext hosts.${name}.system.build.toplevel.drvPath;
      in
      "${name} ${drvPath}"
    ) accepted;
    report = lib.concatMapStringsSep "\n" (check: "ok ${check.name}") evaluated
      + lib.concatMapStrings (check: "\nSKIPPED ${check.name}: ${check.skip}") skipped;
    passAsFile = [
      "report"
      "toplevels"
    ];
  }
  ''
    for config in $oneshotConfigs; do
      gitlab-mattermost check "$config"
    done
    # The module writes the upstream (services.nginx.upstreams) and the Connection map
    # itself: their names must be the ones the compiler's locations use.
    for out in $rendered; do
      if [ -e "$out/nginx/locations.conf" ]; then
        grep -q 'proxy_pass http://gitlab_mattermost;' "$out/nginx/locations.conf"
        grep -q 'map $http_upgrade $gitlab_mattermost_connection' "$out/nginx/http.conf"
      fi
    done
    cp "$reportPath" $out
    echo "rendered: $rendered" >> $out
    echo "toplevels:" >> $out
    cat "$toplevelsPath" >> $out
  ''
