# What evaluating the module must give, as a list of { name, ok }. Shared by the flake's
# module-eval check, which evaluates real NixOS systems, and checks/eval/run, which evaluates
# the module over stub declarations of the NixOS options it sets.
{
  lib,
  # The evaluated `config` of each host in hosts.nix.
  hosts,
  # hosts.nix itself (for `rejected`).
  hostSpecs,
  # The evaluated `options` of the minimal host.
  options,
  # config -> unit name -> the text NixOS writes for that unit (or a dump of its definition)
  unitText,
  # The absolute path of a file holding `canary`, as given to the hosts.
  secretFile,
  canary,
}:
let
  # hasInfix on strings that refer to store paths (without their context: Nix's regex
  # builtins refuse context).
  contains =
    infix: text:
    lib.hasInfix (builtins.unsafeDiscardStringContext infix) (builtins.unsafeDiscardStringContext text);
  ours = message: contains "services.gitlab-mattermost" message;
  failed =
    config: lib.filter ours (map (a: a.message) (lib.filter (a: !a.assertion) config.assertions));
  rejects = config: pattern: lib.any (contains pattern) (failed config);
  has = list: item: builtins.elem item list;
  named = name: packages: lib.any (package: lib.getName package == name) packages;

  minimal = hosts.minimal;
  mm = minimal.services.gitlab-mattermost;
  vhost = minimal.services.nginx.virtualHosts."chat.example.com";
  service = minimal.systemd.services.mattermost;

  custom = hosts.custom;
  customMm = custom.services.gitlab-mattermost;

  local = hosts.gitlabLocal;
  localMm = local.services.gitlab-mattermost;
  oauth = local.systemd.services.gitlab-mattermost-oauth;
  oauthScript = oauth.serviceConfig.ExecStart.text;

  remote = hosts.gitlabRemote;
  remoteOauth = remote.systemd.services.gitlab-mattermost-oauth;
  remoteScript = remoteOauth.serviceConfig.ExecStart.text;

  integrations = hosts.integrations;
  integrationsUnit = integrations.systemd.services.gitlab-mattermost-integrations;
  integrationsConfig = integrations.services.gitlab-mattermost.finalConfig.integrations;

  both = hosts.bothModules;

  # mattermost.version is in the compiler's schema from one version on; its checks are skipped
  # (saying why) with a schema without it.
  hasVersion = options.services.gitlab-mattermost.mattermost ? version;
  versionSkip =
    if hasVersion then
      null
    else
      "the compiler's schema has no mattermost.version (nixos-modules/options.nix predates it)";
  versionOf = config: config.services.gitlab-mattermost.finalConfig.mattermost.version or null;
  inherit (import ../../nixos-modules/lib.nix { inherit lib; }) catalogueVersion;

  # Every option the module declares, the NixOS-only ones too. NixOS names typed options in
  # camelCase; only the keys of free-form attribute sets (settings) keep the program's names.
  declared = lib.collect lib.isOption options.services.gitlab-mattermost;
  snakeCase = lib.filter (option: lib.any (lib.hasInfix "_") (lib.drop 2 option.loc)) declared;
  found = lib.concatMapStringsSep ", " (option: lib.showOption option.loc) snakeCase;

  # Evaluating every account's fields throws if two modules define them differently.
  accounts = lib.mapAttrsToList (_: user: { inherit (user) uid group home; }) both.users.users;

  # Everything the module writes to the store for a host, as text.
  storeText =
    config:
    lib.concatStringsSep "\n" (
      [
        (builtins.toJSON config.services.gitlab-mattermost.finalConfig)
        (unitText config "mattermost.service")
        (builtins.toJSON (lib.mapAttrs (_: v: v.extraConfig) config.services.nginx.virtualHosts))
      ]
      ++ lib.optionals (config.systemd.services ? gitlab-mattermost-oauth) [
        (unitText config "gitlab-mattermost-oauth.service")
        config.systemd.services.gitlab-mattermost-oauth.serviceConfig.ExecStart.text
      ]
    );
  # Hosts the assertions must accept, each with every assertion (NixOS's own too) holding.
  acceptedHosts = lib.filterAttrs (name: _: !(hostSpecs.${name}.rejected or false)) hosts;
  rejectedHosts = lib.filterAttrs (name: _: hostSpecs.${name}.rejected or false) hosts;
  failing = lib.attrNames (
    lib.filterAttrs (_: config: !lib.all (a: a.assertion) config.assertions) acceptedHosts
  );
  passing = lib.attrNames (lib.filterAttrs (_: config: failed config == [ ]) rejectedHosts);
  # (In a check's name, which is shown even when evaluating the check fails.)
  hostsSummary =
    let
      r = builtins.tryEval (
        lib.optionalString (failing != [ ]) " (failing: ${toString failing})"
        + lib.optionalString (passing != [ ]) " (not rejected: ${toString passing})"
      );
    in
    if r.success then r.value else " (a host does not evaluate)";
in
[
  {
    name =
      "hosts: every host not marked rejected passes every assertion, every rejected one fails one of the module's"
      + hostsSummary;
    ok = failing == [ ] && passing == [ ];
  }

  # minimal
  {
    name = "minimal: the module's assertions hold";
    ok = failed minimal == [ ];
  }
  {
    name = "sharedGroup: the account joins a group whose gid another module fixes, leaving ids unset";
    ok =
      failed hosts.sharedGroup == [ ]
      && hosts.sharedGroup.users.groups.nginx.gid == 60
      && hosts.sharedGroup.users.users.mattermost.group == "nginx"
      && hosts.sharedGroup.users.users.mattermost.uid == null;
  }
  {
    name = "minimal: system user and group mattermost";
    ok =
      minimal.users.users.mattermost.isSystemUser
      && minimal.users.users.mattermost.group == "mattermost"
      && minimal.users.groups ? mattermost;
  }
  {
    name = "minimal: mattermost.service is wanted by multi-user.target";
    ok = has service.wantedBy "multi-user.target";
  }
  {
    name = "minimal: the rendered unit is a systemd package, NixOS's part a drop-in";
    ok = has minimal.systemd.packages mm.rendered && service.overrideStrategy == "asDropin";
  }
  {
    name = "minimal: a new rendering restarts the service";
    ok = has service.restartTriggers mm.rendered;
  }
  {
    name = "minimalNginxChange: an nginx-only change leaves Mattermost's unit and restart triggers as they are";
    ok =
      let
        other = hosts.minimalNginxChange;
      in
      other.systemd.services.mattermost.restartTriggers == service.restartTriggers
      && unitText other "mattermost.service" == unitText minimal "mattermost.service"
      && other.systemd.packages == minimal.systemd.packages
      && other.systemd.tmpfiles.packages == minimal.systemd.tmpfiles.packages
      # (while nginx does change)
      && other.services.nginx.virtualHosts."chat.example.com".extraConfig != vhost.extraConfig;
  }
  {
    name = "minimalSettingChange: a Mattermost setting changes its restart triggers";
    ok =
      hosts.minimalSettingChange.systemd.services.mattermost.restartTriggers
      != service.restartTriggers;
  }
  {
    name = "minimal: tmpfiles rules come from the rendering";
    ok = has minimal.systemd.tmpfiles.packages mm.rendered;
  }
  {
    name = "minimal: nginx serves the external host over https with the given certificate";
    ok =
      minimal.services.nginx.enable
      && vhost.onlySSL
      && vhost.sslCertificate == "/var/lib/certs/chat.example.com/fullchain.pem"
      && vhost.sslCertificateKey == "/var/lib/certs/chat.example.com/key.pem";
  }
  {
    name = "minimal: the vhost includes the rendered locations (/, websocket)";
    ok = contains "/nginx/locations.conf;" vhost.extraConfig;
  }
  {
    name = "minimal: the locations' upstream is a services.nginx.upstreams entry, their map in http, no raw include";
    ok =
      let
        upstream = minimal.services.nginx.upstreams.gitlab_mattermost or null;
      in
      upstream != null
      && builtins.attrNames upstream.servers == [ "127.0.0.1:8065" ]
      && contains "keepalive 32;" upstream.extraConfig
      && contains "map $http_upgrade $gitlab_mattermost_connection" (
        minimal.services.nginx.commonHttpConfig
      )
      && !contains "http.conf" minimal.services.nginx.commonHttpConfig;
  }
  {
    # NixOS writes commonHttpConfig before the virtual hosts, appendHttpConfig after them; nginx
    # only knows the map's variable once the map has been read.
    name = "minimal: the upstream and map come before the virtual hosts, not after them";
    ok = !contains "${mm.rendered}/nginx/http.conf" minimal.services.nginx.appendHttpConfig;
  }
  {
    name = "minimal: nginx listens where NixOS's nginx listens by default (IPv4 and IPv6)";
    ok =
      map (listen: listen.addr) vhost.listen == minimal.services.nginx.defaultListenAddresses
      && minimal.services.nginx.defaultListenAddresses == [
        "0.0.0.0"
        "[::0]"
      ];
  }
  {
    name = "nginxDefaults: the host's services.nginx.defaultListenAddresses are the vhost's";
    ok = lib.all (listen: listen.addr == "192.0.2.20") (
      hosts.nginxDefaults.services.nginx.virtualHosts."chat.example.com".listen
    );
  }
  {
    name = "userForceSSL: a host's own forceSSL = true on the vhost wins, with NixOS's port 80 redirect";
    ok =
      let
        host = hosts.userForceSSL;
        vh = host.services.nginx.virtualHosts."chat.example.com";
      in
      lib.all (a: a.assertion) host.assertions
      && vh.forceSSL
      && !vh.onlySSL
      && lib.any (listen: listen.port == 80 && !listen.ssl) vh.listen
      && lib.any (listen: listen.port == 443 && listen.ssl) vh.listen
      && !(host.services.nginx.virtualHosts ? "chat.example.com-http-redirect");
  }
  {
    name = "acmeHost: nginx.useACMEHost serves the named certificate, with the port 80 redirect";
    ok =
      let
        host = hosts.acmeHost;
        vh = host.services.nginx.virtualHosts."chat.example.com";
      in
      lib.all (a: a.assertion) host.assertions
      && vh.useACMEHost == "example.com"
      && !vh.enableACME
      && vh.forceSSL
      && vh.sslCertificate == null
      && host.services.gitlab-mattermost.finalConfig.nginx.certificate
        == "/var/lib/acme/example.com/fullchain.pem";
  }
  {
    name = "bothAcme: nginx.enableACME and nginx.useACMEHost together are rejected";
    ok = rejects hosts.bothAcme "nginx.useACMEHost";
  }
  {
    name = "noIPv6: without networking.enableIPv6 nginx listens on IPv4 only";
    ok = lib.all (
      vhost: map (listen: listen.addr) vhost.listen == [ "0.0.0.0" ]
    ) (lib.attrValues hosts.noIPv6.services.nginx.virtualHosts);
  }
  {
    name = "custom: listenAddresses set by the host replace the default";
    ok = lib.all (
      listen: listen.addr == "192.0.2.10"
    ) custom.services.nginx.virtualHosts."chat.example.org".listen;
  }
  {
    name = "minimal: PostgreSQL creates the database and its owner";
    ok =
      minimal.services.postgresql.enable
      && minimal.services.postgresql.ensureDatabases == [ "mattermost" ]
      && lib.any (
        user: user.name == "mattermost" && user.ensureDBOwnership
      ) minimal.services.postgresql.ensureUsers;
  }
  {
    name = "minimal: Mattermost starts after postgresql.target";
    ok = has service.after "postgresql.target" && has service.requires "postgresql.target";
  }
  {
    name = "minimal: the compiler gets the package and its own path";
    ok =
      mm.finalConfig.mattermost.install_dir == "${mm.package}"
      && mm.finalConfig.mattermost.wrapper == "${mm.compilerPackage}/bin/gitlab-mattermost";
  }
  {
    name = "minimal: secret files are taken as provisioned at every boot (sops-nix, agenix)";
    ok = mm.finalConfig.secrets_provisioned_at_boot or false;
  }
  {
    name = "minimal: only the lean compiler is built: no unit of ours names the full command";
    ok =
      lib.getName mm.compilerPackage == "gitlab-mattermost-compiler"
      && lib.all (unit: !(contains "${mm.commandPackage}" (unitText minimal "${unit}.service"))) (
        lib.filter (unit: unit == "mattermost" || lib.hasPrefix "gitlab-mattermost" unit) (
          lib.attrNames minimal.systemd.services
        )
      );
  }
  {
    name = "gitlabLocal: the registration runs the full command";
    ok =
      lib.getName localMm.commandPackage == "gitlab-mattermost"
      && contains "${localMm.commandPackage}" (unitText local "gitlab-mattermost-oauth.service");
  }
  {
    name = "integrations: the sync runs the full command";
    ok = contains "${integrations.services.gitlab-mattermost.commandPackage}" (
      unitText integrations "gitlab-mattermost-integrations.service"
    );
  }
  {
    name = "minimal: the compiler gets no NixOS-only option";
    ok =
      !(mm.finalConfig ? enable)
      && !(mm.finalConfig ? package)
      && !(mm.finalConfig ? finalConfig)
      && !(mm.finalConfig.gitlab ? register)
      && !(mm.finalConfig.nginx ? enableACME)
      && !(mm.finalConfig.backup or { } ? enable);
  }
  {
    name = "minimal: the socket is where plain hosts have it (the rendered unit's RuntimeDirectory)";
    ok =
      !(mm.finalConfig.settings.ServiceSettings ? LocalModeSocketLocation)
      && lib.any (
        package:
        lib.getName package == "mattermost-admin"
        && contains "MMCTL_LOCAL_SOCKET_PATH=/run/mattermost/mattermost_local.socket" package.text
      ) minimal.environment.systemPackages;
  }
  {
    name = "minimal: gitlab-mattermost finds the checked configuration and runs the full command";
    ok = lib.any (
      package:
      lib.getName package == "gitlab-mattermost"
      && contains "GITLAB_MATTERMOST_CONFIG" package.text
      && contains "${mm.renderedNginx.configFile}" package.text
      && contains "${mm.commandPackage}/bin/gitlab-mattermost" package.text
    ) minimal.environment.systemPackages;
  }
  {
    name = "minimal: local mode is on for mattermost-admin";
    ok =
      mm.finalConfig.settings.ServiceSettings.EnableLocalMode
      && named "mattermost-admin" minimal.environment.systemPackages;
  }
  {
    name =
      "options: no option name has an underscore"
      + lib.optionalString (snakeCase != [ ]) " (found: ${found})";
    ok = declared != [ ] && snakeCase == [ ];
  }
  {
    name = "options: camelCase names reach the compiler under its snake_case ones";
    ok =
      mm.finalConfig.external_url == "https://chat.example.com"
      && mm.finalConfig.nginx.certificate_key == "/var/lib/certs/chat.example.com/key.pem"
      && !(mm.finalConfig ? externalUrl)
      && !(mm.finalConfig.nginx ? certificateKey);
  }
  {
    name = "minimal: no warnings";
    ok = lib.filter ours minimal.warnings == [ ];
  }

  {
    name = "minimal: telemetry is off by default (diagnostics), security alerts stay on as in nixpkgs";
    ok =
      mm.finalConfig.settings.LogSettings.EnableDiagnostics or null == false
      && mm.finalConfig.settings.ServiceSettings.EnableSecurityFixAlert or null == true;
  }
  {
    name = "telemetryOn: telemetry.enableDiagnostics turns diagnostics on; telemetrySetting: the setting itself wins";
    ok =
      let
        diagnostics =
          host: host.services.gitlab-mattermost.finalConfig.settings.LogSettings.EnableDiagnostics;
      in
      diagnostics hosts.telemetryOn && diagnostics hosts.telemetrySetting;
  }
  {
    name = "gitlabLocal/integrations: the oneshots run sandboxed, writing only where they must";
    ok =
      let
        sandboxed =
          unit:
          unit.serviceConfig.ProtectSystem or null == "strict"
          && unit.serviceConfig.PrivateTmp or false
          && unit.serviceConfig.ProtectHome or null != null
          && unit.serviceConfig.NoNewPrivileges or false
          && unit.serviceConfig.ProtectKernelTunables or false
          && unit.serviceConfig.RestrictSUIDSGID or false;
      in
      sandboxed oauth
      && sandboxed remoteOauth
      && sandboxed integrationsUnit
      # GitLab's state (gitlab-rails writes its logs and caches there) only with GitLab here.
      && has oauth.serviceConfig.ReadWritePaths "-/var/gitlab/state"
      && !has (remoteOauth.serviceConfig.ReadWritePaths or [ ]) "-/var/gitlab/state";
  }
  {
    name = "gitlabLocal: the temporary GitLab token is removed and revoked on every exit path";
    ok =
      contains "trap " oauthScript
      && contains "GITLAB_MATTERMOST_REVOKE_FOR" oauthScript
      && contains "trap " integrationsUnit.serviceConfig.ExecStart.text;
  }

  {
    name = "minimal: the module names its documentation (meta.doc)";
    ok =
      let
        # NixOS collects every module's meta.doc by the defining file; the stubs keep one.
        doc = minimal.meta.doc or null;
        docs = if builtins.isAttrs doc then lib.attrValues doc else [ doc ];
      in
      lib.any (file: file != null && lib.hasSuffix "docs/nixos.md" (toString file)) docs;
  }

  # custom
  {
    name = "custom: the module's assertions hold";
    ok = failed custom == [ ];
  }
  {
    name = "custom: user mm (uid 2001) in group mmgroup (gid 2002)";
    ok =
      custom.users.users.mm.uid == 2001
      && custom.users.users.mm.group == "mmgroup"
      && custom.users.groups.mmgroup.gid == 2002;
  }
  {
    name = "custom: database chat handed to mm after ensure*";
    ok =
      custom.services.postgresql.ensureDatabases == [ "chat" ]
      && lib.any (
        user: user.name == "mm" && !user.ensureDBOwnership
      ) custom.services.postgresql.ensureUsers
      && contains ''ALTER DATABASE "chat" OWNER TO "mm"'' custom.systemd.services.postgresql-setup.postStart;
  }
  {
    name = "custom: backup.enable runs the full command's backup daily from the rendered timer";
    ok =
      customMm.finalConfig.backup.schedule == "daily"
      && has custom.systemd.packages customMm.renderedBackup
      && has custom.systemd.tmpfiles.packages customMm.renderedBackup
      && contains ''"wrapper":"${customMm.commandPackage}/bin/gitlab-mattermost"'' customMm.renderedBackup.configFile.text
      && has custom.systemd.timers.gitlab-mattermost-backup.wantedBy "timers.target"
      && custom.systemd.services.gitlab-mattermost-backup.environment.GITLAB_MATTERMOST_CONFIG
        == "${customMm.renderedNginx.configFile}"
      && has custom.systemd.services.gitlab-mattermost-backup.after "postgresql.target"
      && !custom.services.postgresqlBackup.enable;
  }
  {
    name = "custom: the backup schedule is not in Mattermost's rendering (a change restarts nothing)";
    ok =
      (builtins.fromJSON (builtins.unsafeDiscardStringContext customMm.rendered.configFile.text)).backup
      == { };
  }
  {
    name = "minimal: no backup timer without backup.enable";
    ok = !(minimal.systemd.timers ? gitlab-mattermost-backup) && mm.renderedBackup == null;
  }
  {
    name = "custom: ACME certificate paths, port 80 redirect and open ports";
    ok =
      custom.services.nginx.virtualHosts."chat.example.org".enableACME
      && custom.services.nginx.virtualHosts."chat.example.org".forceSSL
      && customMm.finalConfig.nginx.certificate == "/var/lib/acme/chat.example.org/fullchain.pem"
      && has custom.networking.firewall.allowedTCPPorts 443
      && has custom.networking.firewall.allowedTCPPorts 80;
  }
  {
    name = "custom: secret files reach the compiler as paths";
    ok =
      customMm.finalConfig.smtp.password_file == secretFile
      && customMm.finalConfig.setting_files."SqlSettings.AtRestEncryptKey" == secretFile;
  }
  {
    name = "custom: mattermost-admin talks to the local-mode socket the settings name";
    ok = lib.any (
      package:
      lib.getName package == "mattermost-admin"
      && contains "MMCTL_LOCAL_SOCKET_PATH=/var/lib/mattermost/local.sock" package.text
    ) custom.environment.systemPackages;
  }
  {
    name = "custom: no secret content in anything bound for the store";
    ok = !contains canary (storeText custom) && !contains canary (storeText remote);
  }
  {
    name = "custom: a secret inside the Nix store is warned about";
    ok =
      lib.hasPrefix builtins.storeDir secretFile
      -> lib.any (contains "smtp.passwordFile is in the Nix store") custom.warnings;
  }

  # GitLab
  {
    name = "gitlabLocal: the module's assertions hold";
    ok = failed local == [ ];
  }
  {
    name = "gitlabLocal: GitLab links to Mattermost";
    ok =
      local.services.gitlab.extraConfig.mattermost == {
        enabled = true;
        host = "https://chat.example.org";
      };
  }
  {
    name = "gitlabLocalSiteUrl: GitLab links to the site URL, not the vhost";
    ok =
      hosts.gitlabLocalSiteUrl.services.gitlab.extraConfig.mattermost.host
      == "https://chat.example.net";
  }
  {
    name = "gitlabLocal: gitlab.url, idFile and secretFile default for registration";
    ok =
      localMm.finalConfig.gitlab.enable
      && localMm.finalConfig.gitlab.url == "https://git.example.org"
      && localMm.finalConfig.gitlab.id_file == "/var/lib/gitlab-mattermost-oauth/gitlab-id"
      && localMm.finalConfig.gitlab.secret_file == "/var/lib/gitlab-mattermost-oauth/gitlab-secret";
  }
  {
    name = "gitlabLocal: the OAuth oneshot runs after GitLab, and Mattermost is not ordered after it";
    ok =
      has oauth.wantedBy "multi-user.target"
      && has oauth.after "gitlab.service"
      && !has oauth.before "mattermost.service"
      && !has local.systemd.services.mattermost.after "gitlab-mattermost-oauth.service"
      && !has local.systemd.services.mattermost.wants "gitlab-mattermost-oauth.service";
  }
  {
    # Without credentials (a first start) Mattermost waits for the registration; with them it
    # starts at once, whatever the registration does. systemd orders jobs before it checks a
    # unit's conditions, so an ordering After= the registration would hold Mattermost even
    # when a condition then skipped the unit in between: the unit in between is not ordered
    # after the registration, and waits for the credentials only when they are missing.
    name = "gitlabLocal: Mattermost waits for the registration only while credentials are missing";
    ok =
      let
        wait = local.systemd.services.gitlab-mattermost-oauth-wait;
        mattermost = local.systemd.services.mattermost;
        script = wait.serviceConfig.ExecStart.text;
      in
      has mattermost.wants "gitlab-mattermost-oauth-wait.service"
      && has mattermost.after "gitlab-mattermost-oauth-wait.service"
      && has wait.wants "gitlab-mattermost-oauth.service"
      && !has wait.after "gitlab-mattermost-oauth.service"
      && has wait.before "mattermost.service"
      && wait.serviceConfig.Type == "oneshot"
      && contains "/var/lib/gitlab-mattermost-oauth/gitlab-id" script
      && contains "/var/lib/gitlab-mattermost-oauth/gitlab-secret" script
      && wait.serviceConfig.TimeoutStartSec == oauth.serviceConfig.TimeoutStartSec;
  }
  {
    name = "gitlabLocal: the oneshot registers only when its inputs changed or credentials are missing";
    ok =
      let
        stamp = "/var/lib/gitlab-mattermost-oauth/registered-inputs";
        before =
          first: second:
          lib.hasInfix first oauthScript
          && lib.hasInfix second (lib.last (lib.splitString first oauthScript));
      in
      contains stamp oauthScript
      && contains "registration is current" oauthScript
      # The check comes before any wait for GitLab, token or registration.
      && before "registration is current" "/users/sign_in"
      && before "registration is current" "create-token.rb"
      && !contains (builtins.toString localMm.rendered) oauthScript;
  }
  {
    name = "gitlabLocal: the oneshot's unit changes with the registration inputs only, not with other settings";
    ok =
      let
        oauthUnit = host: unitText host "gitlab-mattermost-oauth.service";
      in
      oauthUnit local == oauthUnit hosts.gitlabLocalOtherSetting
      && oauthUnit local != oauthUnit hosts.gitlabLocalSiteUrl
      && !has oauth.restartTriggers localMm.rendered.configFile;
  }
  {
    name = "gitlabLocal: Mattermost never starts without the credentials the oneshot writes";
    ok =
      local.systemd.services.mattermost.unitConfig.AssertFileNotEmpty or null == [
        "/var/lib/gitlab-mattermost-oauth/gitlab-id"
        "/var/lib/gitlab-mattermost-oauth/gitlab-secret"
      ]
      # A failed re-registration must not stop a Mattermost that has credentials already.
      && !has local.systemd.services.mattermost.requires "gitlab-mattermost-oauth.service"
      && !has local.systemd.services.mattermost.bindsTo "gitlab-mattermost-oauth.service";
  }
  {
    name = "gitlabLocal: the oneshot waits for GitLab to answer before it makes a token or registers";
    ok =
      let
        text = oauthScript;
        before =
          first: second:
          lib.hasInfix first text && lib.hasInfix second (lib.last (lib.splitString first text));
      in
      contains "https://git.example.org/users/sign_in" text
      && contains "SECONDS + 3600" text
      && before "/users/sign_in" "create-token.rb"
      && before "/users/sign_in" "gitlab-mattermost gitlab register";
  }
  {
    name = "gitlabLocal: a failed run is retried by systemd with growing delays, without a start limit";
    ok =
      oauth.serviceConfig.Restart == "on-failure"
      && oauth.serviceConfig.RestartSec == "1min"
      && oauth.serviceConfig.RestartSteps > 0
      && oauth.serviceConfig.RestartMaxDelaySec == "30min"
      && oauth.unitConfig.StartLimitIntervalSec or null == 0
      && oauth.serviceConfig.TimeoutStartSec == "4500s";
  }
  {
    name = "gitlabLocal: the run that succeeds after Mattermost was refused starts it";
    ok =
      contains "touch /var/lib/gitlab-mattermost-oauth/mattermost-waits" oauthScript
      && contains "systemctl start --no-block mattermost.service" oauthScript
      && contains "systemctl try-restart --no-block mattermost.service" oauthScript;
  }
  {
    name = "gitlabLocal: a failure says what it means for Mattermost and how to retry";
    ok =
      contains "systemctl restart gitlab-mattermost-oauth.service" oauthScript
      && contains "Mattermost keeps the OAuth id and secret of the last registration" oauthScript
      && contains "systemctl status gitlab.service gitlab-db-config.service" oauthScript
      && contains "raise gitlab.register.waitTimeout" oauthScript;
  }
  {
    name = "gitlabLocal: the oneshot makes a token and trusts the application";
    ok =
      contains "create-token.rb" oauth.serviceConfig.ExecStart.text
      && contains "GITLAB_MATTERMOST_TRUST=1" oauth.serviceConfig.ExecStart.text;
  }
  {
    name = "gitlabRemote: waitTimeout sets the wait and the unit's start timeout";
    ok =
      contains "SECONDS + 7200" remoteScript
      && remoteOauth.serviceConfig.TimeoutStartSec == "8100s"
      && contains "https://gitlab.example.org/users/sign_in" remoteScript
      && contains "gitlab.register.tokenFile that is wrong, expired" remoteScript;
  }
  {
    name = "gitlabRemote: the token file is used and nothing needs gitlab-rails";
    ok =
      failed remote == [ ]
      && remote.systemd.services ? gitlab-mattermost-oauth
      && !(has remote.systemd.services.gitlab-mattermost-oauth.after "gitlab.service")
      && !contains "gitlab-rails" remote.systemd.services.gitlab-mattermost-oauth.serviceConfig.ExecStart.text;
  }
  {
    name = "integrations: the compiler gets its names, and a oneshot syncs after Mattermost and GitLab";
    ok =
      failed integrations == [ ]
      && integrationsConfig.incoming_webhooks.ci.lock_to_channel
      && integrationsConfig.gitlab_projects."group/project".slash_commands.enable
      && integrationsConfig.gitlab_projects."group/project".events == [
        "push"
        "merge_request"
      ]
      && has integrationsUnit.after "mattermost.service"
      && has integrationsUnit.after "gitlab.service"
      && contains "integrations sync" integrationsUnit.serviceConfig.ExecStart.text
      && contains "gitlab-rails runner" integrationsUnit.serviceConfig.ExecStart.text;
  }
  {
    # A start of Mattermost that fails (on a first boot, while the registration is pending)
    # must not fail the sync for good: each later start of Mattermost starts it again.
    name = "integrations: each start of Mattermost starts the sync, which does not fail with it";
    ok =
      has integrationsUnit.wantedBy "mattermost.service"
      && has integrationsUnit.after "mattermost.service"
      && !has integrationsUnit.requires "mattermost.service"
      && !has integrationsUnit.bindsTo "mattermost.service"
      && !has integrationsUnit.wantedBy "multi-user.target";
  }
  {
    name = "integrations: the sync's unit changes with the declaration, not with other settings";
    ok =
      let
        syncUnit = host: unitText host "gitlab-mattermost-integrations.service";
      in
      syncUnit integrations == syncUnit hosts.integrationsOtherSetting
      && syncUnit integrations != syncUnit hosts.integrationsOtherWebhook
      && !has integrationsUnit.restartTriggers (
        integrations.services.gitlab-mattermost.rendered.configFile
      );
  }
  {
    name = "mattermost11: GitLab sign-in through Team Edition's route says what users get";
    ok = lib.any (contains "shows no \"Sign in with GitLab\" button") hosts.mattermost11.warnings;
  }

  # mattermost.version
  {
    name = "mattermost.version: package versions map to the compiler's catalogues";
    ok =
      catalogueVersion "10.11.4" == "10.11"
      && catalogueVersion "10.11.12" == "10.11"
      && catalogueVersion "11.0.4" == "11.7"
      && catalogueVersion "11.3.0" == "11.7"
      && catalogueVersion "10.5.8" == null
      && catalogueVersion "12.0.0" == null;
  }
  {
    name = "mattermost.version: without the option the compiler gets no such key";
    ok = hasVersion || !(mm.finalConfig.mattermost ? version);
  }
  {
    name = "mattermost.version: the package's version reaches the compiler (11.7.16: 11.7)";
    skip = versionSkip;
    ok = versionOf minimal == "11.7" && versionOf hosts.mattermost11 == "11.7";
  }
  {
    name = "mattermost.version: a version the host sets wins over the package's";
    skip = versionSkip;
    ok = versionOf hosts.versionPinned == "10.11";
  }
  {
    name = "mattermost.version: a package without a catalogue is warned about and not guessed";
    skip = versionSkip;
    ok =
      lib.any (contains "no settings catalogue") hosts.versionUnknown.warnings
      && hosts.versionUnknown.services.gitlab-mattermost.mattermost.version
        == (options.services.gitlab-mattermost.mattermost.version.default or null);
  }
  {
    name = "versionUnknown: with the option absent, no warning about it";
    ok = hasVersion || !lib.any (contains "no settings catalogue") hosts.versionUnknown.warnings;
  }

  # rejected
  {
    name = "bothModules: nixpkgs' services.mattermost next to this one is rejected, pointing to the migration guide";
    ok =
      rejects both "services.mattermost are both enabled"
      && rejects both "gitlab-mattermost import --nixpkgs-module"
      && rejects both "docs/migrating-from-nixpkgs.md";
  }
  {
    name = "bothModules: this module then defines no unit, vhost or account of its own, so nothing conflicts";
    ok =
      !named "gitlab-mattermost-rendered" both.systemd.packages
      && !named "mattermost-admin" both.environment.systemPackages
      && !(both.services.nginx.virtualHosts ? "chat.example.com")
      && builtins.deepSeq accounts true;
  }
  {
    name = "minimal: before every start the upgrade guard backs up when the release changed, with the server's pg_dump";
    ok =
      let
        unit = minimal.systemd.services.mattermost;
      in
      lib.any (lib.hasInfix "upgrade-guard") unit.serviceConfig.ExecStartPre
      && lib.any (lib.hasPrefix "+") unit.serviceConfig.ExecStartPre
      && lib.elem minimal.services.postgresql.package unit.path;
  }
  {
    name = "endOfLife: the 10.11 ESR is rejected as past its end of life, naming allowEndOfLife";
    ok =
      rejects hosts.endOfLife "reached its end of life on 2026-08-15"
      && rejects hosts.endOfLife "mattermost.allowEndOfLife = true";
  }
  {
    name = "endOfLifeAllowed: said knowingly, the 10.11 ESR evaluates and reaches the compiler as 10.11";
    skip = versionSkip;
    ok = failed hosts.endOfLifeAllowed == [ ] && versionOf hosts.endOfLifeAllowed == "10.11";
  }
  {
    name = "teamEditionNoChoice: GitLab sign-in on 11 Team Edition is rejected with the choices";
    ok =
      rejects hosts.teamEditionNoChoice "does not offer GitLab sign-in"
      && rejects hosts.teamEditionNoChoice "allowTeamEditionRoute = true"
      && rejects hosts.teamEditionNoChoice "mattermost.edition = \"enterprise\"";
  }
  {
    name = "release2505: a NixOS release older than 25.11 is rejected, saying what to move to";
    ok =
      rejects hosts.release2505 "NixOS 25.05"
      && rejects hosts.release2505 "needs NixOS 25.11 or later"
      && rejects hosts.release2505 "nixos-26.05";
  }
  {
    name = "aarch64: rejected, x86_64-linux only";
    ok = rejects hosts.aarch64 "x86_64-linux only";
  }
  {
    name = "nixPathSecret: a Nix path as secret is rejected";
    ok = rejects hosts.nixPathSecret "services.gitlab-mattermost.smtp.passwordFile is a Nix path";
  }
  {
    name = "inlineSecret: an inline secret is rejected without echoing it";
    ok =
      rejects hosts.inlineSecret "services.gitlab-mattermost.smtp.passwordFile must be the absolute path"
      && rejects hosts.inlineSecret ''settingFiles."SqlSettings.AtRestEncryptKey" must be the absolute path''
      && !lib.any (contains "inline-secret-canary") (failed hosts.inlineSecret);
  }
  {
    name = "integrationsRemoteUnset: GitLab projects without a local GitLab need gitlab.url and a sync token, each said";
    ok =
      rejects hosts.integrationsRemoteUnset "integrations.gitlabProjects needs gitlab.url"
      && rejects hosts.integrationsRemoteUnset "integrations.gitlabProjects needs integrations.sync.tokenFile";
  }
  {
    name = "noCertificate: https without a certificate (or ACME) is rejected";
    ok = rejects hosts.noCertificate "nginx needs";
  }
  {
    name = "registerAttempts: the removed gitlab.register.attempts is rejected, pointing to waitTimeout";
    ok =
      rejects hosts.registerAttempts "gitlab.register.attempts"
      && rejects hosts.registerAttempts "gitlab.register.waitTimeout";
  }
  {
    name = "nixPathToken: a Nix path as GitLab token file is rejected";
    ok = rejects hosts.nixPathToken "gitlab.register.tokenFile is a Nix path";
  }
]
