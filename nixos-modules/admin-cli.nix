# `mattermost-admin`: mmctl in local mode, as the service user, over Mattermost's local-mode
# socket (no login, no token). Local mode is switched on through the settings, with the
# socket in the data directory unless the settings put it elsewhere (as a configuration
# imported from nixpkgs' services.mattermost may).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };
  inherit (cfg.account) user;
  defaultSocket = "${cfg.directories.data}/mattermost.sock";
  socket = cfg.settings.ServiceSettings.LocalModeSocketLocation or defaultSocket;

  mattermost-admin = pkgs.writeShellScriptBin "mattermost-admin" ''
    set -euo pipefail
    export MMCTL_LOCAL=true
    export MMCTL_LOCAL_SOCKET_PATH=${lib.escapeShellArg socket}
    mmctl=${cfg.package}/bin/mmctl
    if [ "$(id -u)" = 0 ]; then
      exec ${pkgs.util-linux}/bin/runuser -u ${lib.escapeShellArg user} -- \
        env HOME=${lib.escapeShellArg cfg.directories.data} "$mmctl" --local "$@"
    elif [ "$(id -un)" = ${lib.escapeShellArg user} ]; then
      exec "$mmctl" --local "$@"
    else
      echo "mattermost-admin: run it as root or as ${user}; the socket ${socket} is theirs only" >&2
      exit 1
    fi
  '';
in
{
  config = lib.mkIf (helpers.active config) {
    environment.systemPackages = [ mattermost-admin ];

    services.gitlab-mattermost.settings.ServiceSettings = {
      EnableLocalMode = lib.mkDefault true;
      LocalModeSocketLocation = lib.mkDefault defaultSocket;
    };
  };
}
