# The nginx virtual host. Its locations (/ and the websocket one) are the compiler's
# locations.conf, included by store path; NixOS's nginx module already defines the
# `$connection_upgrade` map they use, so none is added here.
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };

  url = helpers.parseUrl cfg.external_url;
  https = if cfg.nginx.https != null then cfg.nginx.https else url.scheme == "https";
  port = if cfg.nginx.listen_port != null then cfg.nginx.listen_port else url.port;
  redirect = https && cfg.nginx.redirect_http_to_https;
  acme = cfg.nginx.enableACME;
  upstream = "${helpers.connectAddress cfg.listen.address}:${toString cfg.listen.port}";

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

          # For a locations.conf that proxies to the upstream rather than to the address.
          upstreams.gitlab_mattermost.servers.${upstream} = { };

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
            extraConfig = ''
              client_max_body_size ${cfg.nginx.client_max_body_size};
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
