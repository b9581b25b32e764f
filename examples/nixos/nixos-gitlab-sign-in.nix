# docs/nixos.md, "Sign in with GitLab": a GitLab elsewhere, the OAuth application registered at
# boot.
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  services.gitlab-mattermost.gitlab = {
    url = "https://gitlab.example.com";
    # Mattermost 11 Team Edition (pkgs.mattermost) shows no GitLab button: users sign in at
    # <site>/gitlab-sign-in (see "Mattermost versions" below).
    allowTeamEditionRoute = true;
    register = {
      enable = true;
      tokenFile = "/run/secrets/gitlab-admin-token"; # an administrator's token, scope api
    };
  };
}
