# A host running GitLab Mattermost with this repository's NixOS module: https with a
# Let's Encrypt certificate, local PostgreSQL with daily dumps, mail through a provider, and
# "Sign in with GitLab" against a GitLab elsewhere. Secrets are files that sops-nix (or agenix)
# puts under /run/secrets; only their paths appear here.
#
# In a flake:
#   inputs.gitlab-mattermost.url = "github:gitlab-mattermost/gitlab-mattermost";
#   nixosConfigurations.chat = nixpkgs.lib.nixosSystem {
#     modules = [ inputs.gitlab-mattermost.nixosModules.default ./configuration.nix ];
#   };
{ ... }:
{
  services.gitlab-mattermost = {
    enable = true;
    externalUrl = "https://chat.example.com";
    openFirewall = true;
    nginx.enableACME = true;
    backup.enable = true;

    smtp = {
      enable = true;
      server = "smtp.example.com";
      port = 587;
      connectionSecurity = "STARTTLS";
      auth = true;
      username = "chat@example.com";
      passwordFile = "/run/secrets/mattermost-smtp-password";
      feedbackName = "Example Chat";
      feedbackEmail = "chat@example.com";
      batching.enable = true;
    };

    gitlab = {
      url = "https://gitlab.example.com";
      # Mattermost 11 Team Edition shows no GitLab button: users sign in at
      # https://<site>/gitlab-sign-in (an undocumented route; `gitlab-mattermost doctor` checks
      # it). Or use the Enterprise build: mattermost.edition = "enterprise".
      allowTeamEditionRoute = true;
      # Creates the OAuth application "GitLab Mattermost" at boot and keeps its id and
      # secret under /var/lib/gitlab-mattermost-oauth.
      register = {
        enable = true;
        tokenFile = "/run/secrets/gitlab-admin-token";
      };
    };

    settingFiles."SqlSettings.AtRestEncryptKey" = "/run/secrets/mattermost-at-rest-key";

    settings = {
      TeamSettings.SiteName = "Example Chat";
      ServiceSettings.MaximumLoginAttempts = 5;
    };
  };

  security.acme = {
    acceptTerms = true;
    defaults.email = "admin@example.com";
  };

  # With sops-nix, for example:
  # sops.secrets.mattermost-smtp-password = { };
  # sops.secrets.gitlab-admin-token = { };
  # sops.secrets.mattermost-at-rest-key = { };

  system.stateVersion = "25.11";
}
