# Stub declarations of the NixOS options the VM scenarios (checks/vm) set besides the
# module's and those in nixos-stubs.nix, loosely typed (the test framework's and other
# services' options are not what these checks are about), so that checks/eval/run can
# evaluate every scenario's nodes with the module: the module's assertions, what the
# scenarios read from the nodes, and their test scripts.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  loose = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
in
{
  options = {
    virtualisation = loose;
    security.pki.certificateFiles = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    networking.hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
    };
    networking.primaryIPAddress = mkOption {
      type = types.str;
      default = "192.168.1.1";
    };
    environment.etc = mkOption {
      type = types.attrsOf (types.attrsOf types.anything);
      default = { };
    };
    services.mailpit = loose;
    specialisation = mkOption {
      type = types.attrsOf (
        types.submodule { options.configuration = mkOption { type = types.deferredModule; }; }
      );
      default = { };
    };
    system.build.toplevel = mkOption {
      type = types.package;
      default = derivation {
        name = "nixos-system";
        system = "x86_64-linux";
        builder = "/bin/sh";
      };
    };
  };
}
