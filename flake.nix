{
  description = "GitLab Mattermost from one typed configuration: a compiler and a NixOS module";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      # Built and tested on x86_64-linux only (the module asserts it too).
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
    in
    {
      packages.${system} = {
        gitlab-mattermost = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${system}.gitlab-mattermost;
      };

      # The compiler defaults to this flake's build (the Rust toolchain it was tested with);
      # without the flake, nixos-modules builds it with the host's pkgs.
      nixosModules.default = {
        imports = [ ./nixos-modules ];
        services.gitlab-mattermost.compilerPackage = nixpkgs.lib.mkDefault self.packages.${system}.default;
      };

      checks.${system} = import ./checks { inherit nixpkgs pkgs self; };

      formatter.${system} = pkgs.nixfmt-tree;

      devShells.${system}.default = pkgs.mkShell {
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
    };
}
