# The nginx virtual host. Its locations (/ and the websocket one) are the compiler's
# locations.conf and their upstream and `Connection` map its http.conf, both included by store
# path. (NixOS's own `$connection_upgrade` map is left alone: the compiler's map has a name of
# its own.)
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };

  url = helpers.parseUrl cfg.externalUrl;
  https = if cfg.nginx.https != null then cfg.nginx.https else url.scheme == "https";
  port = if cfg.nginx.listenPort != null then cfg.nginx.listenPort else url.port;
  redirect = https && cfg.nginx.redirectHttpToHttps;
  acme = cfg.nginx.enableACME;

  listenOn =
    listenPort: ssl:
    map (addr: {
      inherit addr ssl;
      port = listenPort;
    }) cfg.nginx.listenAddresses;
in
{
  config = lib.mkIf (helpers.active config && cfg.nginx.enable && cfg.nginx.install) (
    lib.mkMerge [
      {
        services.nginx = {
          enable = true;

          # The upstream `gitlab_mattermost` and the map the locations use. nginx knows a map's
          # variable only after the map, so this goes where NixOS writes http-level definitions
          # before the virtual hosts (commonHttpConfig), not after them (appendHttpConfig).
          commonHttpConfig = "include ${cfg.rendered}/nginx/http.conf;";

          virtualHosts.${url.host} = {
            serverName = url.host;
            # With ACME, NixOS's forceSSL adds the port 80 server for the challenge and the
            # redirect; otherwise the redirect is the separate host below, which keeps the port.
            listen = listenOn port https ++ lib.optionals acme (listenOn cfg.nginx.redirectHttpPort false);
            onlySSL = https && !acme;
            forceSSL = acme;
            enableACME = acme;
            # (Unset ones are reported by the module's assertions.)
            sslCertificate = lib.mkIf (https && !acme && cfg.nginx.certificate != null) cfg.nginx.certificate;
            sslCertificateKey = lib.mkIf (
              https && !acme && cfg.nginx.certificateKey != null
            ) cfg.nginx.certificateKey;
            # The server-level part of the compiler's own vhost (nginx/mattermost.conf).
            extraConfig = ''
              client_max_body_size ${cfg.nginx.clientMaxBodySize};
              ${lib.optionalString https ''add_header Strict-Transport-Security "max-age=63072000" always;''}
              add_header Referrer-Policy strict-origin-when-cross-origin always;
              include ${cfg.rendered}/nginx/locations.conf;
              ${cfg.nginx.serverConfig}
            '';
          };

          virtualHosts."${url.host}-http-redirect" = lib.mkIf (redirect && !acme) {
            serverName = url.host;
            listen = listenOn cfg.nginx.redirectHttpPort false;
            locations."/".return = "301 ${lib.removeSuffix "/" cfg.externalUrl}$request_uri";
          };
        };

        networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (
          [ port ] ++ lib.optional (redirect || acme) cfg.nginx.redirectHttpPort
        );
      }

      (lib.mkIf acme {
        services.gitlab-mattermost.nginx = {
          certificate = lib.mkDefault "/var/lib/acme/${url.host}/fullchain.pem";
          certificateKey = lib.mkDefault "/var/lib/acme/${url.host}/key.pem";
        };
      })

      # nginx listens where NixOS's own virtual hosts do by default: on IPv6 only when the
      # host has it (a `[::]` listen fails where IPv6 is off). Setting the option replaces this.
      {
        services.gitlab-mattermost.nginx.listenAddresses = lib.mkDefault (
          [ "0.0.0.0" ] ++ lib.optional config.networking.enableIPv6 "[::]"
        );
      }
    ]
  );
}
