{
  services.gitlab-mattermost = {
    enable = true;
    externalUrl = "https://chat.example.com";
    openFirewall = true;
    nginx.enableACME = true; # or nginx.certificate / nginx.certificateKey
  };
  security.acme = {
    acceptTerms = true;
    defaults.email = "admin@example.com";
  };
}
