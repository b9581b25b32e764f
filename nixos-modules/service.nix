# The compiler's input, its rendered output, and the account, unit and tmpfiles built on it.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };

  # The options the compiler reads, under its own names (generated with options.nix); the
  # NixOS-only options are not in it.
  finalConfig = helpers.project [ ] (import ./names.nix) cfg;

  # `mattermost.version` tells the compiler which Mattermost it configures; by default it is
  # the package's. (Guarded: the option exists only with a compiler schema that has it.)
  hasVersionOption = options.services.gitlab-mattermost.mattermost ? version;
  packageCatalogue = helpers.catalogueVersion cfg.package.version;
  # (Any definition beats the option's default, which has mkOptionDefault's priority.)
  versionSetByHost =
    hasVersionOption
    && options.services.gitlab-mattermost.mattermost.version.highestPrio
      < (lib.mkOptionDefault null).priority;

  configFile = pkgs.writeText "gitlab-mattermost.json" (builtins.toJSON finalConfig);

  # Rendering happens at build time; the module only ever refers to the output by store path
  # (no import-from-derivation). The compiler writes a scratch directory (it replaces its
  # output as a whole) that names $out in the unit; the copies under lib/ are where
  # systemd.packages and systemd.tmpfiles.packages look.
  render =
    name: config: install:
    pkgs.runCommandLocal name
      {
        nativeBuildInputs = [ cfg.compilerPackage ];
        passthru.configFile = config;
      }
      ''
        gitlab-mattermost render ${config} --out rendered --install-dir "$out"
        cp -r rendered "$out"
        ${install}
      '';

  # Two renderings, one per consumer, so that a switch restarts only what changed:
  # - Mattermost's (the unit, its environment file, tmpfiles rules) from the configuration
  #   without the nginx section, which none of those files depends on: an nginx-only change
  #   leaves Mattermost's unit, and Mattermost, as they are;
  # - nginx's (the locations the virtual host includes) from the whole configuration, which
  #   the compiler thereby also checks as a whole.
  serviceConfigFile = pkgs.writeText "gitlab-mattermost-service.json" (
    builtins.toJSON (
      finalConfig
      // {
        nginx.enable = false;
        backup = { };
      }
    )
  );
  rendered = render "gitlab-mattermost-rendered" serviceConfigFile ''
    install -D -m 0444 "$out/systemd/mattermost.service" "$out/lib/systemd/system/mattermost.service"
    install -D -m 0444 "$out/tmpfiles.d/mattermost.conf" "$out/lib/tmpfiles.d/gitlab-mattermost.conf"
  '';
  renderedNginx = render "gitlab-mattermost-rendered-nginx" configFile "";

  # Scheduled backups (backup.schedule): the service and timer `apply` installs on a plain
  # host, rendered with the full command as the program (the lean compiler has no `backup`),
  # apart from Mattermost's rendering so that a change to them restarts nothing. The service
  # reads the configuration from GITLAB_MATTERMOST_CONFIG (backup.nix).
  backupConfigFile = pkgs.writeText "gitlab-mattermost-backup.json" (
    builtins.toJSON (
      finalConfig
      // {
        nginx.enable = false;
        mattermost = finalConfig.mattermost // {
          wrapper = "${cfg.commandPackage}/bin/gitlab-mattermost";
        };
      }
    )
  );
  renderedBackup = render "gitlab-mattermost-rendered-backup" backupConfigFile ''
    install -D -m 0444 "$out/systemd/gitlab-mattermost-backup.service" "$out/lib/systemd/system/gitlab-mattermost-backup.service"
    install -D -m 0444 "$out/systemd/gitlab-mattermost-backup.timer" "$out/lib/systemd/system/gitlab-mattermost-backup.timer"
    install -D -m 0444 "$out/tmpfiles.d/gitlab-mattermost-backup.conf" "$out/lib/tmpfiles.d/gitlab-mattermost-backup.conf"
  '';
in
{
  config = lib.mkIf (helpers.active config) {
    services.gitlab-mattermost = lib.mkMerge [
      { inherit finalConfig rendered renderedNginx; }
      { renderedBackup = if cfg.backup.schedule != null then renderedBackup else null; }
      # backup.enable: daily unless a schedule is given.
      (lib.mkIf cfg.backup.enable { backup.schedule = lib.mkDefault "daily"; })
      # sops-nix and agenix write secrets under /run at every boot: the compiler's warning
      # about secret files on a tmpfs is for hosts where nothing does.
      { secretsProvisionedAtBoot = lib.mkDefault true; }
      # Telemetry as the options say (off unless asked for), unless the settings say
      # otherwise themselves.
      {
        settings = {
          LogSettings.EnableDiagnostics = lib.mkDefault cfg.telemetry.enableDiagnostics;
          ServiceSettings.EnableSecurityFixAlert = lib.mkDefault cfg.telemetry.enableSecurityAlerts;
        };
      }
      (lib.optionalAttrs hasVersionOption {
        mattermost.version = lib.mkIf (packageCatalogue != null) (lib.mkDefault packageCatalogue);
      })
    ];

    warnings = lib.optional (hasVersionOption && packageCatalogue == null && !versionSetByHost) ''
      services.gitlab-mattermost.package is Mattermost ${cfg.package.version}, for which the
      compiler has no settings catalogue (it knows 10.11 and 11.7), so mattermost.version is
      left at its default. Use a 10.11 or 11 package, or set mattermost.version yourself.
    '';

    # The ids only when set: users.users.<name>.uid and users.groups.<name>.gid are defined
    # (as null) otherwise, which clashes with an existing account's fixed id (nginx, users).
    users.users.${cfg.account.user} = {
      isSystemUser = true;
      inherit (cfg.account) group;
      uid = lib.mkIf (cfg.account.uid != null) cfg.account.uid;
      home = cfg.directories.data;
      description = "Mattermost";
    };

    users.groups.${cfg.account.group}.gid = lib.mkIf (cfg.account.gid != null) cfg.account.gid;

    systemd.packages = [ rendered ];
    systemd.tmpfiles.packages = [ rendered ];

    # The unit itself comes from the compiler; what NixOS adds here (and whatever the host
    # sets in systemd.services.mattermost, e.g. serviceConfig overrides) becomes a drop-in.
    systemd.services.mattermost = {
      overrideStrategy = "asDropin";
      wantedBy = [ "multi-user.target" ];
      # A new rendering is a new unit file and environment: restart on switch. (nginx's
      # rendering is another derivation: an nginx-only change does not touch this one.)
      restartTriggers = [ rendered ];
      # nixos-rebuild switch installs a new Mattermost without `apply`: before every start the
      # guard compares the release with the last one and, when it changed, refuses an older
      # line and backs up database, files, config.json, plugins and secret files into
      # /var/lib/gitlab-mattermost/upgrades before the new release migrates the database. As
      # root ("+"), outside the unit's sandbox; pg_dump from the server's own package.
      path = [ config.services.postgresql.package ];
      serviceConfig.ExecStartPre = [
        "+${cfg.compilerPackage}/bin/gitlab-mattermost upgrade-guard ${serviceConfigFile}"
      ];
    };
  };
}
