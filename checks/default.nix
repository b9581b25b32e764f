# checks.x86_64-linux: the package (its tests run in checkPhase), lints, the module's
# evaluation, and the VM scenarios.
{
  nixpkgs,
  pkgs,
  self,
}:
let
  inherit (pkgs) lib;
  package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
  fs = lib.fileset;
in
{
  inherit package;

  clippy = package.overrideAttrs (old: {
    pname = "gitlab-mattermost-clippy";
    nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.clippy ];
    dontCargoBuild = true;
    dontCargoInstall = true;
    doCheck = false;
    # The plain cargo: the build's cargo wrapper (cargo-auditable) would stand between cargo
    # and clippy-driver.
    buildPhase = ''
      ${lib.getExe pkgs.cargo} clippy --workspace --all-targets --offline -- --deny warnings
    '';
    installPhase = "touch $out";
  });

  fmt =
    pkgs.runCommand "gitlab-mattermost-fmt"
      {
        nativeBuildInputs = [
          pkgs.cargo
          pkgs.rustfmt
          pkgs.nixfmt
        ];
        src = fs.toSource {
          root = ../.;
          fileset = fs.unions [
            (fs.fileFilter (file: file.hasExt "rs" || file.hasExt "nix" || file.name == "Cargo.toml") ../.)
            ../Cargo.lock
            (fs.maybeMissing ../rustfmt.toml)
            (fs.maybeMissing ../.rustfmt.toml)
          ];
        };
      }
      ''
        # A writable copy: the formatters want to be able to write, even to check.
        cp -r "$src" src
        chmod -R u+w src
        cd src
        cargo fmt --all --check
        find . -name '*.nix' -print0 | xargs -0 nixfmt --check
        touch $out
      '';

  module-eval = import ./module-eval.nix { inherit nixpkgs pkgs self; };
}
// import ./vm { inherit pkgs self; }
