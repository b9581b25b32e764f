# The nixpkgs lib a host in hosts.nix is evaluated with: the given one, or, for a host with
# `release`, the same lib reporting that NixOS release (lib.trivial.release, lib.version),
# so that the module's release check can be evaluated without an old nixpkgs.
lib: host:
if host ? release then
  lib.extend (
    final: prev: {
      trivial = prev.trivial // {
        inherit (host) release;
        version = "${host.release}.19700101.0000000";
      };
    }
  )
else
  lib
