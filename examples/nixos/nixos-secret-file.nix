# docs/nixos.md, "Secrets": a secret given by its absolute path, as a string.
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  services.gitlab-mattermost.smtp.passwordFile = "/run/secrets/mattermost-smtp-password";
}
