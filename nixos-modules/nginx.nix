# The nginx virtual host. Its locations (/ and the websocket one) are the compiler's
# locations.conf and their upstream and `Connection` map its http.conf, both included by store
# path. (NixOS's own `$connection_upgrade` map is left alone: the compiler's map has a name of
# its own.)
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };

  url = helpers.parseUrl cfg.external_url;
  https = if cfg.nginx.https != null then cfg.nginx.https else url.scheme == "https";
  port = if cfg.nginx.listen_port != null then cfg.nginx.listen_port else url.port;
  redirect = https && cfg.nginx.redirect_http_to_https;
  acme = cfg.nginx.enableACME;

  listenOn =
    listenPort: ssl:
    map (addr: {
      inherit addr ssl;
      port = listenPort;
    }) cfg.nginx.listen_addresses;
in
{
  config = lib.mkIf (cfg.enable && cfg.nginx.enable) (
    lib.mkMerge [
      {
        services.nginx = {
          enable = true;

          # The upstream `gitlab_mattermost` and the map the locations use.
          appendHttpConfig = "include ${cfg.rendered}/nginx/http.conf;";

          virtualHosts.${url.host} = {
            serverName = url.host;
            # With ACME, NixOS's forceSSL adds the port 80 server for the challenge and the
            # redirect; otherwise the redirect is the separate host below, which keeps the port.
            listen = listenOn port https ++ lib.optionals acme (listenOn cfg.nginx.redirect_http_port false);
            onlySSL = https && !acme;
            forceSSL = acme;
            enableACME = acme;
            # (Unset ones are reported by the module's assertions.)
            sslCertificate = lib.mkIf (https && !acme && cfg.nginx.certificate != null) cfg.nginx.certificate;
            sslCertificateKey = lib.mkIf (
              https && !acme && cfg.nginx.certificate_key != null
            ) cfg.nginx.certificate_key;
            # The server-level part of the compiler's own vhost (nginx/mattermost.conf).
            extraConfig = ''
              client_max_body_size ${cfg.nginx.client_max_body_size};
              ${lib.optionalString https ''add_header Strict-Transport-Security "max-age=63072000" always;''}
              add_header Referrer-Policy strict-origin-when-cross-origin always;
              include ${cfg.rendered}/nginx/locations.conf;
              ${cfg.nginx.server_config}
            '';
          };

          virtualHosts."${url.host}-http-redirect" = lib.mkIf (redirect && !acme) {
            serverName = url.host;
            listen = listenOn cfg.nginx.redirect_http_port false;
            locations."/".return = "301 ${lib.removeSuffix "/" cfg.external_url}$request_uri";
          };
        };

        networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (
          [ port ] ++ lib.optional (redirect || acme) cfg.nginx.redirect_http_port
        );
      }

      (lib.mkIf acme {
        services.gitlab-mattermost.nginx = {
          certificate = lib.mkDefault "/var/lib/acme/${url.host}/fullchain.pem";
          certificate_key = lib.mkDefault "/var/lib/acme/${url.host}/key.pem";
        };
      })
    ]
  );
}
