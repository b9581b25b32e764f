# Options that exist only in NixOS (camelCase, as NixOS names them). The compiler's own
# configuration is in options.nix, generated from its schema.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  inherit (import ./types.nix { inherit lib; }) secretFile;
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };
in
{
  imports = [
    (lib.mkRemovedOptionModule [ "services" "gitlab-mattermost" "gitlab" "register" "attempts" ] ''
      The registration no longer makes a fixed number of attempts: it waits until GitLab answers
      (up to gitlab.register.waitTimeout seconds) and systemd retries a failed run with growing
      delays.
    '')
  ];

  options.services.gitlab-mattermost = {
    enable = lib.mkEnableOption "GitLab Mattermost, configured by the gitlab-mattermost compiler";

    package = lib.mkPackageOption pkgs "mattermost" {
      extraDescription = ''
        On NixOS 26.05 `pkgs.mattermost` is the 11.7 Extended Support Release (Team Edition:
        from 11.0 the "Sign in with GitLab" button needs a license, see
        `gitlab.allowTeamEditionRoute`). `mattermost.version` follows this package.
      '';
    };

    compilerPackage = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { lean = true; };
      defaultText = lib.literalMD "`gitlab-mattermost-compiler` (the lean build) from this repository with `pkgs`";
      description = ''
        The gitlab-mattermost compiler, lean build: render, check, exec and upgrade-guard only,
        none of the network clients. It renders the unit, the environment file and the nginx
        locations at build time; its `exec` starts Mattermost with the secrets systemd hands
        it, after `upgrade-guard` (a backup before a new release migrates the database). This
        is all `nixos-rebuild` has to build unless GitLab registration or integrations are on.
      '';
    };

    commandPackage = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { };
      defaultText = lib.literalMD "`gitlab-mattermost` (the full command) from this repository with `pkgs`";
      description = ''
        The full gitlab-mattermost command, which the GitLab registration (`gitlab register`)
        and the integrations sync (`integrations sync`) oneshots and the scheduled backup
        (`backup`) run. Built only when one of them is on. Admins who want the command on the host add it to
        `environment.systemPackages`.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the ports nginx serves Mattermost on (and the http redirect port).";
    };

    nginx.enableACME = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Get the certificate from Let's Encrypt (`security.acme`, which needs
        `security.acme.acceptTerms` and `security.acme.defaults.email`). Sets
        `nginx.certificate` and `nginx.certificateKey` to the ACME files and serves the
        http-01 challenge and the redirect to https on port 80.
      '';
    };

    nginx.useACMEHost = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "example.com";
      description = ''
        Serve the certificate of `security.acme.certs.<name>`, which another part of the
        host configures: a wildcard certificate got with a DNS-01 challenge, or one shared
        by several virtual hosts (NixOS's `useACMEHost`). Sets `nginx.certificate` and
        `nginx.certificateKey` to its files; with `nginx.redirectHttpToHttps` on port 443,
        NixOS's own redirect to https serves port 80. Exclusive with `nginx.enableACME`.
      '';
    };

    telemetry = {
      enableDiagnostics = mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = ''
          Send Mattermost's diagnostics and usage data to Mattermost, Inc.
          (`LogSettings.EnableDiagnostics`, which Mattermost itself turns on by default).
          <https://docs.mattermost.com/manage/telemetry.html>
        '';
      };

      enableSecurityAlerts = mkOption {
        type = types.bool;
        default = true;
        example = false;
        description = ''
          Let Mattermost ask Mattermost, Inc. for security updates and tell the system
          administrators about them (`ServiceSettings.EnableSecurityFixAlert`); it sends the
          server's version and a few counts.
        '';
      };
    };

    backup.enable = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Back up Mattermost on a schedule with `gitlab-mattermost backup`, as `apply` does on
        other hosts: the database, the uploaded files, `config.json`, the plugins and the
        secret files, into `backup.directory` (root's, mode 0700), keeping the newest
        `backup.keep`. `gitlab-mattermost-backup.timer` runs it at `backup.schedule`
        (`daily` unless set; setting `backup.schedule` alone turns it on too) with the full
        command (`commandPackage`). Restore with `gitlab-mattermost restore --from DIR`.
      '';
    };

    renderedBackup = mkOption {
      type = types.nullOr types.package;
      readOnly = true;
      description = ''
        Output of `gitlab-mattermost render` for the scheduled backup (with
        `backup.schedule`): `gitlab-mattermost-backup.service` and `.timer`, run by the full
        command, and the tmpfiles rule of `backup.directory`; `null` without a schedule.
      '';
    };

    gitlab.register = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Create (or update) the OAuth application "GitLab Mattermost" in GitLab at boot with
          `gitlab-mattermost gitlab register`, before Mattermost starts. Its id and secret are
          written to `gitlab.idFile` and `gitlab.secretFile`, which default to files under
          {file}`/var/lib/gitlab-mattermost-oauth`. Enables `gitlab.enable`.
        '';
      };

      tokenFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        example = "/run/secrets/gitlab-admin-token";
        description = ''
          File holding a personal access token, with scope `api`, of a GitLab administrator.
          Leave it unset when GitLab runs on this host (`services.gitlab`): a token of
          `adminUser` valid for one day is then made with `gitlab-rails` and revoked once the
          application is registered.
        '';
      };

      trust = mkOption {
        type = types.bool;
        default = config.services.gitlab.enable;
        defaultText = lib.literalExpression "config.services.gitlab.enable";
        description = ''
          Mark the application trusted, so that GitLab does not ask users to authorize
          Mattermost. GitLab's API cannot do this, so it needs GitLab on this host.
        '';
      };

      adminUser = mkOption {
        type = types.str;
        default = "root";
        description = "GitLab administrator whose token registers the application when `tokenFile` is unset.";
      };

      waitTimeout = mkOption {
        type = types.ints.positive;
        default = 3600;
        example = 7200;
        description = ''
          Seconds one run of `gitlab-mattermost-oauth.service` waits for GitLab to answer at
          `gitlab.url` before it fails (on its first start GitLab migrates its database, which
          takes a long while on a small host). A failed run is started again by systemd, first
          after a minute, then with growing delays up to 30 minutes, until registration
          succeeds; Mattermost is then started (or restarted with the new credentials).
        '';
      };
    };

    finalConfig = mkOption {
      type = types.attrsOf types.anything;
      readOnly = true;
      description = "The configuration handed to the compiler, as written to the store in JSON.";
    };

    rendered = mkOption {
      type = types.package;
      readOnly = true;
      description = ''
        Output of `gitlab-mattermost render` for Mattermost: the unit, the environment file
        and the tmpfiles rules that this module wires into NixOS. Rendered from the
        configuration without its nginx section, so that an nginx-only change does not
        restart Mattermost.
      '';
    };

    renderedNginx = mkOption {
      type = types.package;
      readOnly = true;
      description = ''
        Output of `gitlab-mattermost render` for the whole configuration, whose nginx
        locations the virtual host includes.
      '';
    };
  };

  config = lib.mkIf (helpers.active config && cfg.gitlab.register.enable) {
    services.gitlab-mattermost.gitlab = {
      enable = lib.mkDefault true;
      idFile = lib.mkDefault "/var/lib/gitlab-mattermost-oauth/gitlab-id";
      secretFile = lib.mkDefault "/var/lib/gitlab-mattermost-oauth/gitlab-secret";
    };
  };
}
