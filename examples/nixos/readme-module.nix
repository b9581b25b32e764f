{
  services.gitlab-mattermost = {
    enable = true;
    externalUrl = "https://chat.example.com";
    # A Let's Encrypt certificate for the name, renewed by NixOS.
    nginx.enableACME = true;
  };
  security.acme = {
    acceptTerms = true;
    defaults.email = "admin@example.com";
  };
}
