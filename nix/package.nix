# The gitlab-mattermost compiler, from this repository's Rust workspace.
{
  lib,
  rustPlatform,
  installShellFiles,
  getent,
  stdenv,
}:
let
  root = ../.;
  fs = lib.fileset;
in
rustPlatform.buildRustPackage {
  pname = "gitlab-mattermost";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;

  # What cargo and the tests read: the workspace, the generated docs and examples the tests
  # compare with, and nixos-modules/options.nix (kept in sync with the schema by a test).
  src = fs.toSource {
    inherit root;
    fileset = fs.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../crates
      ../nixos-modules/options.nix
      (fs.maybeMissing ../docs)
      (fs.maybeMissing ../examples)
      (fs.maybeMissing ../README.md)
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "--package"
    "gitlab-mattermost"
  ];
  cargoTestFlags = [ "--workspace" ];

  nativeBuildInputs = [ installShellFiles ];
  # Account lookups go through NSS with `getent`, which stdenv lacks; a unit test looks up
  # root (the sandbox's /etc/passwd has it).
  nativeCheckInputs = [ getent ];
  # The tests that run nginx, systemd-analyze, systemd-tmpfiles, openssl or nix-instantiate
  # skip themselves when the tool is missing, as it is here: the sandbox runs unprivileged
  # and without /var, which those checks need. CI runs them (.ci/run).

  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd gitlab-mattermost \
      --bash <("$out/bin/gitlab-mattermost" completions bash) \
      --zsh <("$out/bin/gitlab-mattermost" completions zsh) \
      --fish <("$out/bin/gitlab-mattermost" completions fish)
    "$out/bin/gitlab-mattermost" man > gitlab-mattermost.1
    installManPage gitlab-mattermost.1
  '';

  meta = {
    description = "Compile one typed configuration into Mattermost's environment, systemd unit and nginx vhost";
    license = lib.licenses.mit;
    mainProgram = "gitlab-mattermost";
    platforms = [ "x86_64-linux" ];
  };
}
