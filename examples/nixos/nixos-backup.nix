# docs/nixos.md, "Backups": the quick start's host with scheduled backups.
{
  imports = [ ./nixos-quick-start/configuration.nix ];

  services.gitlab-mattermost.backup = {
    enable = true;
    schedule = "*-*-* 03:30:00"; # OnCalendar= (systemd.time(7)); default "daily"
    keep = 7; # the newest 7 backups stay
    directory = "/var/backups/gitlab-mattermost"; # the default; root's, mode 0700
  };
}
