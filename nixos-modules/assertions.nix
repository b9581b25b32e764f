# Checks with messages that say what to change. The compiler validates the configuration
# again at build time; these catch what only Nix can see (Nix paths, the platform, other
# NixOS services) and fail before anything is built.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  cfg = config.services.gitlab-mattermost;
  system = pkgs.stdenv.hostPlatform.system;
  url = (import ./lib.nix { inherit lib; }).parseUrl cfg.externalUrl;
  siteUrl = if (cfg.siteUrl or null) != null then cfg.siteUrl else cfg.externalUrl;

  # From 11, GitLab sign-in is an Enterprise feature (the compiler's lifecycle table).
  gitlabNeedsEdition =
    lib.versionAtLeast cfg.package.version "11" && (cfg.mattermost.edition or "team") == "team";
  teamEditionRoute = gitlabNeedsEdition && (cfg.gitlab.allowTeamEditionRoute or false);

  # Every option of type secretFile, also inside nullOr and attrsOf, with one entry per file.
  isSecretType =
    type:
    type.name == "secretFile"
    || (type.nestedTypes ? elemType && isSecretType type.nestedTypes.elemType);
  secretOptions = lib.filter (option: isSecretType option.type) (
    lib.collect lib.isOption options.services.gitlab-mattermost
  );
  secrets = lib.concatMap (
    option:
    let
      name = lib.showOption option.loc;
    in
    if option.value == null then
      [ ]
    else if builtins.isAttrs option.value then
      lib.mapAttrsToList (key: value: {
        name = "${name}.${builtins.toJSON key}";
        inherit value;
      }) option.value
    else
      [
        {
          inherit name;
          inherit (option) value;
        }
      ]
  ) secretOptions;

  # The value itself is never part of a message: it may be the secret.
  secretAssertions = lib.concatMap (secret: [
    {
      assertion = !builtins.isPath secret.value;
      message = ''
        ${secret.name} is a Nix path, which would be copied into the world-readable Nix store.
        Write the absolute path as a string instead, e.g. "/run/secrets/mattermost" (see
        sops-nix or agenix for putting secrets there).
      '';
    }
    {
      assertion = builtins.isPath secret.value || lib.hasPrefix "/" secret.value;
      message = ''
        ${secret.name} must be the absolute path of a file that holds the secret, not the
        secret itself: put the secret in a file readable by root (e.g. with sops-nix or
        agenix) and give its path.
      '';
    }
  ]) secrets;

  storeSecrets = lib.filter (
    secret: builtins.isString secret.value && lib.hasPrefix builtins.storeDir secret.value
  ) secrets;
in
{
  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !(config.services.mattermost.enable or false);
        message = ''
          services.gitlab-mattermost and nixpkgs' services.mattermost are both enabled. Both
          run Mattermost as systemd.services.mattermost and users.users.mattermost, so only
          one of them can. To move from services.mattermost, import its configuration with
          `gitlab-mattermost import --nixpkgs-module` and then disable it; the steps (and the
          way back) are in docs/migrating-from-nixpkgs.md:
          https://github.com/gitlab-mattermost/gitlab-mattermost/blob/main/docs/migrating-from-nixpkgs.md
        '';
      }
      {
        # The module orders Mattermost after postgresql.target and adds to
        # postgresql-setup.service, which NixOS has from 25.11 on: on an older release
        # Mattermost would wait for a target that never comes.
        assertion = !lib.versionOlder lib.version "25.11";
        message = ''
          services.gitlab-mattermost needs NixOS 25.11 or later; this system's nixpkgs is
          NixOS ${lib.trivial.release} (lib.version ${lib.version}), whose PostgreSQL module has no
          postgresql.target, so Mattermost would never start. Move the host to a supported
          release, e.g. the flake input github:NixOS/nixpkgs/nixos-26.05 (NixOS 25.11 also
          works, but reached its end of life on 2026-06-30).
        '';
      }
      {
        assertion = system == "x86_64-linux";
        message = ''
          services.gitlab-mattermost supports x86_64-linux only; this system is ${system}.
          The compiler, the Mattermost package and the VM tests are built and tested there.
        '';
      }
      {
        assertion = cfg.database.kind == "local" -> cfg.database.user == cfg.account.user;
        message = ''
          services.gitlab-mattermost.database.user (${cfg.database.user}) must equal
          account.user (${cfg.account.user}) with database.kind = "local": PostgreSQL's peer
          authentication maps the Unix user to the database role of the same name.
        '';
      }
      {
        assertion =
          cfg.nginx.enable && url.scheme == "https" && !cfg.nginx.enableACME
          -> cfg.nginx.certificate != null && cfg.nginx.certificateKey != null;
        message = ''
          services.gitlab-mattermost.externalUrl is https, so nginx needs
          nginx.certificate and nginx.certificateKey (paths as strings), or set
          nginx.enableACME = true to get a certificate from Let's Encrypt.
        '';
      }
      {
        assertion =
          cfg.nginx.enableACME
          -> url.scheme == "https" && url.port == 443 && cfg.nginx.redirectHttpPort == 80;
        message = ''
          services.gitlab-mattermost.nginx.enableACME needs an https externalUrl on port 443
          and nginx.redirectHttpPort = 80, where Let's Encrypt's http-01 challenge arrives.
        '';
      }
      {
        assertion = !(cfg.nginx.enableACME && cfg.nginx.useACMEHost != null);
        message = ''
          services.gitlab-mattermost.nginx.enableACME and nginx.useACMEHost are both set:
          choose one. enableACME gets a certificate for ${url.host} with the http-01
          challenge; useACMEHost = "${toString cfg.nginx.useACMEHost}" serves the certificate
          security.acme.certs."${toString cfg.nginx.useACMEHost}" names (e.g. a wildcard got
          with DNS-01).
        '';
      }
      {
        assertion = cfg.nginx.useACMEHost != null -> url.scheme == "https";
        message = ''
          services.gitlab-mattermost.nginx.useACMEHost serves a certificate, which needs an
          https externalUrl (it is ${cfg.externalUrl}).
        '';
      }
      {
        assertion = cfg.gitlab.register.enable -> cfg.gitlab.url != null;
        message = ''
          services.gitlab-mattermost.gitlab.register.enable needs gitlab.url, GitLab's base
          URL (it is set for you when services.gitlab runs on this host).
        '';
      }
      {
        assertion =
          cfg.gitlab.register.enable && cfg.gitlab.register.tokenFile == null
          -> config.services.gitlab.enable;
        message = ''
          services.gitlab-mattermost.gitlab.register.tokenFile is unset, so the module would
          make a token with gitlab-rails, which needs services.gitlab on this host. Give the
          path of a file holding a GitLab administrator's personal access token (scope api).
        '';
      }
      {
        assertion =
          cfg.gitlab.register.enable && cfg.gitlab.register.trust -> config.services.gitlab.enable;
        message = ''
          services.gitlab-mattermost.gitlab.register.trust needs services.gitlab on this host
          (GitLab's API cannot mark an application trusted). Set it to false, or mark
          "GitLab Mattermost" trusted in GitLab's Admin area > Applications.
        '';
      }
      {
        # The compiler refuses it too, at build time (its lifecycle table); said here, it is
        # said at evaluation.
        assertion =
          !((cfg.mattermost.version or null) == "10.11" && !(cfg.mattermost.allowEndOfLife or false));
        message = ''
          services.gitlab-mattermost: Mattermost ${cfg.package.version} is the 10.11 ESR, which
          reached its end of life on 2026-08-15 and gets no security fixes. Use the 11.7 ESR
          (pkgs.mattermost on NixOS 26.05; the move migrates the database one way, so back it up
          first), or keep it knowingly for the weeks of a move with
          services.gitlab-mattermost.mattermost.allowEndOfLife = true.
        '';
      }
      {
        # The compiler refuses it too, at build time; said here, it is said at evaluation.
        assertion = !(cfg.gitlab.enable && gitlabNeedsEdition && !teamEditionRoute);
        message = ''
          services.gitlab-mattermost.gitlab.enable: Mattermost ${cfg.package.version} Team Edition
          does not offer GitLab sign-in (11.0 moved it to the Enterprise build). Choose one:
          mattermost.edition = "enterprise" with an Enterprise package (mattermost.licenseFile
          for a licensed server, or none for the free Mattermost Entry tier: only the newest
          10,000 messages visible); gitlab.allowTeamEditionRoute = true (no GitLab button in any
          app, users sign in at <site>/gitlab-sign-in through an undocumented route); or
          gitlab.enable = false.
        '';
      }
    ]
    ++ secretAssertions;

    warnings =
      lib.optional (cfg.gitlab.enable && teamEditionRoute) ''
        services.gitlab-mattermost.gitlab.allowTeamEditionRoute: Mattermost ${cfg.package.version}
        Team Edition shows no "Sign in with GitLab" button in any app; users sign in at
        ${siteUrl}/gitlab-sign-in, which leads to the undocumented route
        /oauth/gitlab/login (any release may close it; `gitlab-mattermost doctor` checks it).
      ''
      ++ map (secret: ''
        ${secret.name} is in the Nix store, where every local user can read it. Keep secrets
        outside the store (e.g. /run/secrets with sops-nix or agenix).
      '') storeSecrets;
  };
}
