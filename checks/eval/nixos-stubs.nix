# Typed declarations of the NixOS options that services.gitlab-mattermost sets or reads, so
# that lib.evalModules can evaluate the module without nixpkgs. Types follow NixOS where it
# matters for merging (lists concatenate, attribute sets merge, a conflict is an error).
#
# They follow NixOS 26.05 as the flake pins it (nixpkgs rev
# 78e9c786dc08cd4f3420c2395cd977206a9b1da2): nixos/modules/system/boot/systemd.nix and
# lib/systemd-unit-options.nix for units, services/web-servers/nginx/{default,vhost-options}.nix
# for nginx, services/databases/postgresql.nix, services/misc/gitlab.nix. Only the options the
# module uses are declared, with NixOS's names, types and defaults.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  option = type: default: mkOption { inherit type default; };
  strings = option (types.listOf types.str) [ ];
  flag = option types.bool false;
  lines = option types.lines "";
  anything = option (types.attrsOf types.anything) { };

  service = types.submodule {
    options = {
      description = option types.str "";
      wantedBy = strings;
      requiredBy = strings;
      wants = strings;
      requires = strings;
      after = strings;
      before = strings;
      bindsTo = strings;
      partOf = strings;
      path = option (types.listOf (types.either types.package types.str)) [ ];
      environment = option (types.attrsOf types.str) { };
      restartTriggers = option (types.listOf types.unspecified) [ ];
      serviceConfig = anything;
      unitConfig = anything;
      script = lines;
      preStart = lines;
      postStart = lines;
      startAt = strings;
      overrideStrategy = option (types.enum [
        "asDropinIfExists"
        "asDropin"
      ]) "asDropinIfExists";
    };
  };

  timer = types.submodule {
    options = {
      wantedBy = strings;
      timerConfig = anything;
      unitConfig = anything;
      overrideStrategy = option (types.enum [
        "asDropinIfExists"
        "asDropin"
      ]) "asDropinIfExists";
    };
  };

  vhost = types.submodule {
    options = {
      serverName = option (types.nullOr types.str) null;
      listen = option (types.listOf (
        types.submodule {
          options = {
            addr = option types.str "";
            port = option (types.nullOr types.port) null;
            ssl = option (types.nullOr types.bool) null;
            proxyProtocol = flag;
            extraParameters = strings;
          };
        }
      )) [ ];
      listenAddresses = strings;
      onlySSL = flag;
      addSSL = flag;
      forceSSL = flag;
      rejectSSL = flag;
      enableACME = flag;
      useACMEHost = option (types.nullOr types.str) null;
      sslCertificate = option (types.nullOr types.path) null;
      sslCertificateKey = option (types.nullOr types.path) null;
      extraConfig = lines;
      locations = option (types.attrsOf (
        types.submodule {
          options = {
            return = option (types.nullOr types.str) null;
            proxyPass = option (types.nullOr types.str) null;
            # (In NixOS its default is services.nginx.recommendedProxySettings.)
            recommendedProxySettings = flag;
            extraConfig = lines;
          };
        }
      )) { };
    };
  };
in
{
  options = {
    assertions = option (types.listOf types.unspecified) [ ];
    # nixos/modules/misc/meta.nix (doc: a Markdown file of the module).
    meta.doc = option (types.nullOr types.path) null;
    warnings = strings;

    environment.systemPackages = option (types.listOf types.package) [ ];

    networking.firewall.allowedTCPPorts = option (types.listOf types.port) [ ];
    networking.enableIPv6 = option types.bool true;

    users.users = option (types.attrsOf (
      types.submodule {
        options = {
          isSystemUser = flag;
          group = option types.str "";
          uid = option (types.nullOr types.int) null;
          home = option types.str "/var/empty";
          description = option types.str "";
        };
      }
    )) { };
    users.groups = option (types.attrsOf (
      types.submodule { options.gid = option (types.nullOr types.int) null; }
    )) { };

    systemd.packages = option (types.listOf types.package) [ ];
    systemd.tmpfiles.packages = option (types.listOf types.package) [ ];
    systemd.services = option (types.attrsOf service) { };
    systemd.timers = option (types.attrsOf timer) { };

    services.nginx = {
      enable = flag;
      recommendedProxySettings = flag;
      commonHttpConfig = lines;
      appendHttpConfig = lines;
      virtualHosts = option (types.attrsOf vhost) { };
      upstreams = option (types.attrsOf (
        types.submodule {
          options = {
            servers = option (types.attrsOf (
              types.submodule {
                freeformType = types.attrsOf (
                  types.oneOf [
                    types.bool
                    types.int
                    types.str
                  ]
                );
                options.backup = flag;
              }
            )) { };
            extraConfig = lines;
          };
        }
      )) { };
      defaultListenAddresses = option (types.listOf types.str) (
        [ "0.0.0.0" ] ++ lib.optional config.networking.enableIPv6 "[::0]"
      );
      defaultHTTPListenPort = option types.port 80;
      defaultSSLListenPort = option types.port 443;
    };

    services.postgresql = {
      enable = flag;
      # The server's package (nixpkgs picks it by stateVersion); a stand-in derivation here.
      package = option types.package {
        type = "derivation";
        name = "postgresql-17.5";
        outPath = "/nix/store/00000000000000000000000000000000-postgresql-17.5";
      };
      ensureDatabases = strings;
      ensureUsers = option (types.listOf (
        types.submodule {
          options = {
            name = option types.str "";
            ensureDBOwnership = flag;
          };
        }
      )) [ ];
    };

    # security/acme: the settings are taken as they come; the assertions below stand in for
    # what NixOS checks.
    security.acme = option (types.submodule {
      freeformType = types.attrsOf types.anything;
      options = {
        acceptTerms = flag;
        defaults = anything;
        certs = anything;
      };
    }) { };

    services.postgresqlBackup = {
      enable = flag;
      databases = strings;
    };

    # nixpkgs' own Mattermost module, which must not run next to this one; its other
    # options (siteUrl, …) are taken as they come.
    services.mattermost = option (types.submodule {
      freeformType = types.attrsOf types.anything;
      options.enable = flag;
    }) { };

    # Separate options, as in NixOS: one submodule would make services.gitlab.enable depend
    # on the module's own definitions below services.gitlab.
    services.gitlab = {
      enable = flag;
      user = option types.str "gitlab";
      host = option types.str "localhost";
      port = option types.port 8080;
      https = flag;
      extraConfig = anything;
      statePath = option types.str "/var/gitlab/state";
      databasePasswordFile = option (types.nullOr types.path) null;
      initialRootPasswordFile = option (types.nullOr types.path) null;
      secrets = option (types.attrsOf (types.nullOr types.path)) { };
      sidekiq = anything;
      puma = anything;
    };
  };

  config = {
    # Stands in for the GitLab module's gitlab-rails wrapper, which gitlab.nix looks up.
    environment.systemPackages = lib.mkIf config.services.gitlab.enable [
      (derivation {
        name = "gitlab-rails";
        system = "x86_64-linux";
        builder = "/bin/sh";
      })
    ];

    # What NixOS's nginx module asserts about every virtual host (in its own words, abridged).
    assertions = lib.concatLists (
      lib.mapAttrsToList (name: vhost: [
        {
          assertion =
            lib.count (x: x) [
              vhost.onlySSL
              vhost.addSSL
              vhost.forceSSL
              vhost.rejectSSL
            ] <= 1;
          message = "Options services.nginx.service.virtualHosts.${name}.addSSL, .onlySSL, .forceSSL and .rejectSSL are mutually exclusive.";
        }
        {
          assertion = !(vhost.enableACME && vhost.useACMEHost != null);
          message = "Options services.nginx.service.virtualHosts.${name}.enableACME and .useACMEHost are mutually exclusive.";
        }
        # (NixOS fails evaluation on a certificate that security.acme.certs lacks.)
        {
          assertion =
            vhost.useACMEHost != null -> config.security.acme.certs ? ${vhost.useACMEHost};
          message = "services.nginx.virtualHosts.${name}.useACMEHost names no security.acme.certs entry.";
        }
        # security/acme's own assertions, for the certificates nginx asks for.
        {
          assertion =
            vhost.enableACME || vhost.useACMEHost != null
            -> config.security.acme.acceptTerms && config.security.acme.defaults ? email;
          message = "You must accept the CA's terms of service before using the ACME module by setting `security.acme.acceptTerms` to `true`, and set security.acme.defaults.email.";
        }
      ]) config.services.nginx.virtualHosts
    );
  };
}
