# Just enough of `pkgs` for the module: derivations that are never built (their store paths
# can be computed without a Nix store), with the attributes the module and the checks read.
{ lib, system }:
let
  # The attributes are the derivation's too, so that, as in nixpkgs, its store path changes
  # with what it is made of (a script's text, a rendering's inputs).
  fake =
    name: attributes:
    derivation (
      {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          "exit 1"
        ];
      }
      // attributes
    )
    // attributes;

  package =
    pname: version:
    fake "${pname}-${version}" {
      inherit pname version;
    };

  script = name: text: fake name { inherit text; };
in
{
  inherit lib;
  stdenv.hostPlatform = { inherit system; };

  # As nixos-26.05 has them: both the 11.7 ESR.
  mattermost = package "mattermost" "11.7.16";
  mattermostLatest = package "mattermost" "11.7.16";
  util-linux = package "util-linux" "2.41";
  coreutils = package "coreutils" "9.7";
  # What the VM scenarios (checks/vm) use besides, for their evaluation in checks/eval/vm.nix.
  openssl = package "openssl" "3.5.4";
  jq = package "jq" "1.8.1";
  python3 = package "python3" "3.13.9";
  curl = package "curl" "8.16.0";

  # The compiler: nix/package.nix is not built here.
  # nix/package.nix: the full command, or with `lean = true` the compiler alone.
  callPackage =
    _: args:
    package (if args.lean or false then "gitlab-mattermost-compiler" else "gitlab-mattermost") "0.1.0";

  writeText = script;
  writeShellScript = script;
  writeShellScriptBin = script;
  # Like mkDerivation, passthru attributes end up on the result.
  runCommand =
    name: environment: buildCommand:
    fake name (removeAttrs environment [ "passthru" ] // { inherit buildCommand; })
    // environment.passthru or { };

  runCommandLocal =
    name: environment: buildCommand:
    fake name (removeAttrs environment [ "passthru" ] // { inherit buildCommand; })
    // environment.passthru or { };

  formats.json = _: {
    type = lib.types.attrsOf lib.types.anything;
  };
}
