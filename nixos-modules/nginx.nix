# The nginx virtual host. Its locations (/ and the websocket one) are the compiler's
# locations.conf, included by store path; their upstream is a services.nginx.upstreams entry
# and their `Connection` map goes into http{} (NixOS's own `$connection_upgrade` map is left
# alone: the compiler's map has a name of its own).
#
# Whatever the host sets on the same virtual host wins: the TLS switches are defaults
# (mkDefault), so e.g. a host's own `forceSSL = true` replaces the module's `onlySSL`.
{ config, lib, ... }:
let
  cfg = config.services.gitlab-mattermost;
  helpers = import ./lib.nix { inherit lib; };

  url = helpers.parseUrl cfg.externalUrl;
  https = if cfg.nginx.https != null then cfg.nginx.https else url.scheme == "https";
  port = if cfg.nginx.listenPort != null then cfg.nginx.listenPort else url.port;
  redirect = https && cfg.nginx.redirectHttpToHttps;
  inherit (cfg.nginx) enableACME useACMEHost;
  acme = enableACME || useACMEHost != null;

  # The virtual host as NixOS sees it, with the host's own definitions.
  vhost = config.services.nginx.virtualHosts.${url.host};

  # NixOS's forceSSL serves port 80 with a redirect to https://$host (port 443) and, with
  # ACME, the http-01 challenge. It is the default with enableACME (which needs both), and
  # with useACMEHost when the redirect is asked for and lands on the right port; otherwise a
  # redirect is the separate host below, which keeps the port.
  nixosRedirect = enableACME || (useACMEHost != null && redirect && port == 443);

  # The compiler's upstream (named in locations.conf's proxy_pass): where Mattermost listens,
  # as seen from this host.
  upstreamName = "gitlab_mattermost";
  upstreamServer = "${helpers.connectAddress cfg.listen.address}:${toString cfg.listen.port}";

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

          upstreams.${upstreamName} = {
            servers.${upstreamServer} = { };
            extraConfig = "keepalive 32;";
          };

          # The map the locations use (as the compiler's nginx/http.conf has it). nginx knows a
          # map's variable only after the map, so this goes where NixOS writes http-level
          # definitions before the virtual hosts (commonHttpConfig), not after them
          # (appendHttpConfig). Websocket upgrades pass `Connection: upgrade`; everything else
          # keeps the upstream connection alive (an empty value drops the header).
          commonHttpConfig = ''
            map $http_upgrade $gitlab_mattermost_connection {
                default upgrade;
                ''' ''';
            }
          '';

          virtualHosts.${url.host} = {
            serverName = lib.mkDefault url.host;
            # The https port, and the port 80 entries NixOS's forceSSL serves (whoever set it).
            listen =
              listenOn port https
              ++ lib.optionals (https && vhost.forceSSL) (
                listenOn cfg.nginx.redirectHttpPort false
              );
            onlySSL = lib.mkDefault (https && !vhost.forceSSL && !vhost.addSSL);
            forceSSL = lib.mkDefault (https && nixosRedirect);
            enableACME = lib.mkDefault enableACME;
            useACMEHost = lib.mkIf (useACMEHost != null) (lib.mkDefault useACMEHost);
            # (Unset ones are reported by the module's assertions.)
            sslCertificate = lib.mkIf (https && !acme && cfg.nginx.certificate != null) (
              lib.mkDefault cfg.nginx.certificate
            );
            sslCertificateKey = lib.mkIf (https && !acme && cfg.nginx.certificateKey != null) (
              lib.mkDefault cfg.nginx.certificateKey
            );
            # The server-level part of the compiler's own vhost (nginx/mattermost.conf).
            extraConfig = ''
              client_max_body_size ${cfg.nginx.clientMaxBodySize};
              ${lib.optionalString https ''add_header Strict-Transport-Security "max-age=63072000" always;''}
              add_header Referrer-Policy strict-origin-when-cross-origin always;
              include ${cfg.renderedNginx}/nginx/locations.conf;
              ${cfg.nginx.serverConfig}
            '';
          };

          # (Its presence cannot depend on the host's own forceSSL, which is read from the
          # virtual hosts it is one of; the module's assertions report the two together.)
          virtualHosts."${url.host}-http-redirect" = lib.mkIf (redirect && !nixosRedirect) {
            serverName = url.host;
            listen = listenOn cfg.nginx.redirectHttpPort false;
            locations."/".return = "301 ${lib.removeSuffix "/" cfg.externalUrl}$request_uri";
          };
        };

        assertions = [
          {
            assertion = !(redirect && !nixosRedirect && vhost.forceSSL);
            message = ''
              services.nginx.virtualHosts."${url.host}".forceSSL is set, so NixOS already
              redirects http to https on port 80; set
              services.gitlab-mattermost.nginx.redirectHttpToHttps = false, whose redirect
              host would serve the same name and port.
            '';
          }
        ];

        networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (
          [ port ] ++ lib.optional (redirect || vhost.forceSSL) cfg.nginx.redirectHttpPort
        );

        # nginx listens where NixOS's nginx listens for any virtual host that does not say
        # (services.nginx.defaultListenAddresses: IPv4, and IPv6 when the host has it).
        # Setting the option replaces this.
        services.gitlab-mattermost.nginx.listenAddresses =
          lib.mkDefault config.services.nginx.defaultListenAddresses;
      }

      # The compiler is told where the certificate is (for its own checks and `doctor`).
      (lib.mkIf acme {
        services.gitlab-mattermost.nginx =
          let
            directory = "/var/lib/acme/${if useACMEHost != null then useACMEHost else url.host}";
          in
          {
            certificate = lib.mkDefault "${directory}/fullchain.pem";
            certificateKey = lib.mkDefault "${directory}/key.pem";
          };
      })
    ]
  );
}
