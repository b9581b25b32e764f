# A local database: PostgreSQL on this host, reached over its unix socket with peer
# authentication (NixOS's default pg_hba has `local all all peer`), so no password exists.
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };
  db = cfg.database;
in
{
  config = lib.mkIf (helpers.active config && db.kind == "local") (
    lib.mkMerge [
      {
        services.postgresql = {
          enable = true;
          ensureDatabases = [ db.name ];
          ensureUsers = [
            {
              name = db.user;
              # NixOS can hand over only a database named after its owner.
              ensureDBOwnership = db.name == db.user;
            }
          ];
        };

        # postgresql.target is reached once postgresql-setup.service has created the role and
        # the database; the rendered unit only knows postgresql.service.
        systemd.services.mattermost = {
          after = [ "postgresql.target" ];
          requires = [ "postgresql.target" ];
        };
      }

      (lib.mkIf (db.name != db.user) {
        systemd.services.postgresql-setup.postStart = lib.mkAfter ''
          psql -tAc 'ALTER DATABASE "${db.name}" OWNER TO "${db.user}";'
        '';
      })

      # The scheduled backup dumps the database once PostgreSQL is up.
      (lib.mkIf (cfg.backup.schedule != null) {
        systemd.services.gitlab-mattermost-backup.after = [ "postgresql.target" ];
      })
    ]
  );
}
