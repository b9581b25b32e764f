{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    gitlab-mattermost.url = "github:gitlab-mattermost/gitlab-mattermost";
  };

  outputs =
    { nixpkgs, gitlab-mattermost, ... }:
    {
      nixosConfigurations.chat = nixpkgs.lib.nixosSystem {
        modules = [
          gitlab-mattermost.nixosModules.default
          ./configuration.nix
        ];
      };
    };
}
