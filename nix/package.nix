# The gitlab-mattermost command, from this repository's Rust workspace.
#
# With `lean = true` it is the compiler alone (`gitlab-mattermost-compiler`): the same
# `gitlab-mattermost` binary built without the importers and the operations
# (`--no-default-features`), i.e. render, check, env, exec, upgrade-guard and the generated
# references. That is what a NixOS host builds at every `nixos-rebuild` and what the unit runs
# at every start; it links none of the TLS, PostgreSQL, HTTP or X.509 crates. The full command
# (the default) is what admins run.
{
  lib,
  rustPlatform,
  installShellFiles,
  getent,
  glibc,
  stdenv,
  lean ? false,
}:
let
  root = ../.;
  fs = lib.fileset;
in
rustPlatform.buildRustPackage {
  pname = if lean then "gitlab-mattermost-compiler" else "gitlab-mattermost";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;

  # What cargo and the tests read: the workspace, the config's JSON Schema (compiled into the
  # command), the generated docs and examples the tests compare with, and
  # nixos-modules/options.nix (kept in sync with the schema by a test).
  src = fs.toSource {
    inherit root;
    fileset = fs.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../crates
      ../nixos-modules/options.nix
      ../docs/gitlab-mattermost.schema.json
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
  buildNoDefaultFeatures = lean;
  # Cargo.toml's `lean` profile (optimised for size) for the compiler alone.
  buildType = if lean then "lean" else "release";
  # The lean build runs the command's tests that need no more than it has (render, check,
  # exec, the snapshots and the read-back of every target syntax), against the lean binary
  # itself, reusing the crates just built; the full build runs the workspace's tests.
  cargoTestFlags =
    if lean then
      [
        "--package"
        "gitlab-mattermost"
      ]
    else
      [ "--workspace" ];

  # The compiler alone is linked statically and at a fixed address: it starts at every NixOS
  # build and every Mattermost start, and its start was mostly the dynamic loader's work
  # (loading libc and libgcc_s, then relocating 16 000 pointers in a position-independent
  # binary); static, a render costs a fifth less CPU (README "Benchmark"; bench/build.py
  # builds it the same way). It links no NSS function and loads nothing at run time. Without address
  # randomisation for its own code: it reads only root's config and credentials, and `exec`
  # replaces it with Mattermost within a millisecond. The hook passes `--target`, so these
  # flags reach only the crates linked into it, not build scripts or proc-macros.
  buildInputs = lib.optionals lean [ glibc.static ];
  env = lib.optionalAttrs lean {
    RUSTFLAGS = "-C target-feature=+crt-static -C relocation-model=static";
  };

  nativeBuildInputs = [ installShellFiles ];
  # Account lookups go through NSS with `getent`, which stdenv lacks; a unit test looks up
  # root (the sandbox's /etc/passwd has it).
  nativeCheckInputs = [ getent ];
  # The tests that run nginx, systemd-analyze, systemd-tmpfiles, openssl or nix-instantiate
  # skip themselves when the tool is missing, as it is here: the sandbox runs unprivileged
  # and without /var, which those checks need. CI runs them (.ci/run).

  # Completions and the man page describe the full command; the lean one is run by units.
  postInstall = lib.optionalString (!lean && stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd gitlab-mattermost \
      --bash <("$out/bin/gitlab-mattermost" completions bash) \
      --zsh <("$out/bin/gitlab-mattermost" completions zsh) \
      --fish <("$out/bin/gitlab-mattermost" completions fish)
    "$out/bin/gitlab-mattermost" man --out man-pages
    installManPage man-pages/*
  '';

  meta = {
    description =
      if lean then
        "The gitlab-mattermost compiler alone: render, check and exec (what a NixOS host builds and runs)"
      else
        "Compile one typed configuration into Mattermost's environment, systemd unit and nginx vhost";
    license = lib.licenses.mit;
    mainProgram = "gitlab-mattermost";
    platforms = [ "x86_64-linux" ];
  };
}
