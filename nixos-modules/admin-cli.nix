# The admin's commands, the same as on a plain host: `gitlab-mattermost` (status, doctor,
# mmctl, backup, logs, psql, …) finds this host's checked configuration without an argument,
# and `mattermost-admin` is mmctl in local mode, as the service user, over Mattermost's
# local-mode socket (no login, no token). Local mode is on (the compiler's default), with the
# socket where plain hosts have it, /run/<account.user>/mattermost_local.socket (the unit's
# RuntimeDirectory=, mode 0750), unless the settings put it elsewhere (as a configuration
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
  defaultSocket = "/run/${user}/mattermost_local.socket";
  socket = cfg.settings.ServiceSettings.LocalModeSocketLocation or defaultSocket;

  # The full command with this host's configuration as its default (the configuration holds
  # secret file paths only, never a secret).
  gitlab-mattermost = pkgs.writeShellScriptBin "gitlab-mattermost" ''
    export GITLAB_MATTERMOST_CONFIG="''${GITLAB_MATTERMOST_CONFIG:-${cfg.renderedNginx.configFile}}"
    exec ${cfg.commandPackage}/bin/gitlab-mattermost "$@"
  '';

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
    environment.systemPackages = [
      gitlab-mattermost
      mattermost-admin
    ];

    services.gitlab-mattermost.settings.ServiceSettings.EnableLocalMode = lib.mkDefault true;
  };
}
