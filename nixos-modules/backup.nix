# Scheduled backups (backup.enable, backup.schedule): the service and timer the compiler
# renders, as `apply` installs them on a plain host, with what NixOS adds as drop-ins: the
# configuration the backup reads, pg_dump on the PATH, and the timer's place in timers.target.
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };
in
{
  config = lib.mkIf (helpers.active config && cfg.backup.schedule != null) {
    systemd.packages = [ cfg.renderedBackup ];
    systemd.tmpfiles.packages = [ cfg.renderedBackup ];

    systemd.services.gitlab-mattermost-backup = {
      overrideStrategy = "asDropin";
      # The whole configuration, as the compiler checked it (the rendered unit names none).
      environment.GITLAB_MATTERMOST_CONFIG = "${cfg.renderedNginx.configFile}";
      # pg_dump and psql of the server's own package.
      path = [ config.services.postgresql.package ];
    };

    systemd.timers.gitlab-mattermost-backup = {
      overrideStrategy = "asDropin";
      wantedBy = [ "timers.target" ];
    };
  };
}
