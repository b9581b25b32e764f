# The gitlab-mattermost compiler, from this repository's Rust workspace.
{
  lib,
  rustPlatform,
  installShellFiles,
  stdenv,
  nginx,
  systemd,
}:
let
  root = ../.;
  fs = lib.fileset;
in
rustPlatform.buildRustPackage {
  pname = "gitlab-mattermost";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;

  # Only what cargo reads: a change to the Nix files or the docs does not rebuild it.
  # (nixos-modules/options.nix is here for the test that keeps it in sync with the schema.)
  src = fs.toSource {
    inherit root;
    fileset = fs.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../crates
      ../nixos-modules/options.nix
      (fs.maybeMissing ../tests)
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
  # The tests that check rendered nginx configuration and units run these; tests that need
  # a PostgreSQL server or the network skip themselves when it is not there.
  nativeCheckInputs = [
    nginx
    systemd
  ];

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
