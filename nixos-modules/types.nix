# Option types shared by the generated and the hand-written option files.
{ lib }:
{
  # A file whose content is secret. It must be an absolute path given as a string: a Nix path
  # literal (./secret) would be copied into the world-readable Nix store. The type accepts Nix
  # paths and relative strings on purpose, so that the module's assertions (assertions.nix)
  # can reject them with a message that says what to write instead.
  secretFile = lib.mkOptionType {
    name = "secretFile";
    description = "absolute path of a secret file, as a string";
    descriptionClass = "noun";
    check = value: builtins.isString value || builtins.isPath value;
    merge = lib.mergeEqualOption;
  };
}
