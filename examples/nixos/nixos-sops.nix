# docs/nixos.md, "Secrets": the SMTP password from sops-nix (whose module the host imports).
{ config, ... }:
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  sops.secrets.mattermost-smtp-password = { };
  services.gitlab-mattermost.smtp.passwordFile = config.sops.secrets.mattermost-smtp-password.path;
}
