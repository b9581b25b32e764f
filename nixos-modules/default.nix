# services.gitlab-mattermost: GitLab Mattermost run from one typed configuration.
#
# The snake_case options (options.nix) are the gitlab-mattermost compiler's configuration,
# generated from its schema; the camelCase ones (module-options.nix) exist only in NixOS. At
# build time the configuration becomes JSON, `gitlab-mattermost render` turns it into the
# systemd unit, the environment file and the nginx locations, and the files below wire those
# into NixOS by store path only, so evaluation never reads a build result.
{ lib, ... }:
{
  imports = [
    # `externalUrl` reads like the rest of NixOS; it is the compiler's `external_url`.
    (lib.mkAliasOptionModule
      [ "services" "gitlab-mattermost" "externalUrl" ]
      [ "services" "gitlab-mattermost" "external_url" ]
    )
    ./options.nix
    ./module-options.nix
    ./assertions.nix
    ./service.nix
    ./nginx.nix
    ./postgresql.nix
    ./gitlab.nix
    ./admin-cli.nix
  ];
}
