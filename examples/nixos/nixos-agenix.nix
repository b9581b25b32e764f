# docs/nixos.md, "Secrets": the SMTP password from agenix (whose module the host imports).
{ config, ... }:
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  age.secrets.mattermost-smtp-password.file = ./secrets/mattermost-smtp-password.age;
  services.gitlab-mattermost.smtp.passwordFile = config.age.secrets.mattermost-smtp-password.path;
}
