# services.gitlab-mattermost: GitLab Mattermost run from one typed configuration.
#
# The options in options.nix are the gitlab-mattermost compiler's configuration, generated
# from its schema with camelCase names (names.nix maps them back to the compiler's); those in
# module-options.nix exist only in NixOS. At build time the configuration becomes JSON,
# `gitlab-mattermost render` turns it into the systemd unit, the environment file and the
# nginx locations, and the files below wire those into NixOS by store path only, so
# evaluation never reads a build result.
{
  # The module's documentation (NixOS's meta.doc; there is no nixpkgs maintainer handle to
  # name in meta.maintainers).
  meta.doc = ../docs/nixos.md;

  imports = [
    ./options.nix
    ./module-options.nix
    ./assertions.nix
    ./service.nix
    ./nginx.nix
    ./postgresql.nix
    ./gitlab.nix
    ./admin-cli.nix
    ./integrations.nix
    ./backup.nix
  ];
}
