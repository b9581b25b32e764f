# docs/integrations.md, "On NixOS": GitLab notifications and slash commands, GitLab elsewhere.
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  services.gitlab-mattermost.integrations = {
    owner = "admin";
    incomingWebhooks.gitlab = {
      team = "engineering";
      channel = "town-square";
    };
    gitlabProjects."group/project" = {
      webhook = "gitlab";
      events = [
        "push"
        "merge_request"
      ];
      slashCommands.enable = true;
    };
    # Not needed when services.gitlab runs on this host: a one-day token of
    # sync.adminUser is then made for each sync and revoked after it.
    sync.tokenFile = "/run/secrets/gitlab-integrations-token";
  };
  # GitLab's address: not needed either when services.gitlab runs on this host (the module
  # defaults it to that GitLab).
  services.gitlab-mattermost.gitlab.url = "https://gitlab.example.com";
}
