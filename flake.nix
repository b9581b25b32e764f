{
  description = "GitLab Mattermost from one typed configuration: a compiler and a NixOS module";

  inputs = {
    # NixOS 26.05: Mattermost 11.7 ESR as pkgs.mattermost, GitLab 18.11.
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # Only for the upgrade VM test (checks/vm/upgrade.nix): its pkgs.mattermost, the 10.11
    # ESR, makes the database the 11.7 ESR then migrates. Nothing else uses it.
    nixpkgs-25-11.url = "github:NixOS/nixpkgs/nixos-25.11";
  };

  outputs =
    { self, nixpkgs, ... }:
    let
      inherit (nixpkgs) lib;
      # Built and tested on x86_64-linux only (the module asserts it too).
      systems = [ "x86_64-linux" ];
      forSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forSystems (pkgs: {
        gitlab-mattermost = pkgs.callPackage ./nix/package.nix { };
        # The compiler alone (render, check, exec, upgrade-guard): what a NixOS host builds.
        gitlab-mattermost-compiler = pkgs.callPackage ./nix/package.nix { lean = true; };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.gitlab-mattermost;

        # The module's options as Markdown (`nix build .#options-doc`), as NixOS's manual
        # renders its own: every services.gitlab-mattermost option with its type, default,
        # example and description.
        options-doc =
          let
            system = nixpkgs.lib.nixosSystem {
              modules = [
                self.nixosModules.default
                {
                  nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system;
                  system.stateVersion = "26.05";
                }
              ];
            };
          in
          (pkgs.nixosOptionsDoc {
            options = { inherit (system.options.services) gitlab-mattermost; };
          }).optionsCommonMark;
      });

      # The compiler defaults to this flake's build for the host's platform (the Rust
      # toolchain it was tested with); on a platform the flake builds nothing for, and without
      # the flake, nixos-modules builds it with the host's pkgs (and the module's platform
      # assertion says what is supported).
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-modules ];
          services.gitlab-mattermost =
            let
              built = self.packages.${pkgs.stdenv.hostPlatform.system};
            in
            lib.mkIf (self.packages ? ${pkgs.stdenv.hostPlatform.system}) {
              compilerPackage = lib.mkDefault built.gitlab-mattermost-compiler;
              commandPackage = lib.mkDefault built.gitlab-mattermost;
            };
        };

      checks = forSystems (pkgs: import ./checks { inherit nixpkgs pkgs self; });

      formatter = forSystems (pkgs: pkgs.nixfmt-tree);

      devShells = forSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            pkgs.nginx
            pkgs.systemd # systemd-analyze
            pkgs.nixfmt
            pkgs.postgresql
            (pkgs.python3.withPackages (python: [ python.aiosmtpd ]))
          ];
        };
      });
    };
}
