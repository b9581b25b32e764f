{
  imports = [ ./gitlab-mattermost.nix ];
  # services.mattermost = { … };   # removed
}
