# Pure helpers shared by the module's files.
{ lib }:
rec {
  # Whether the module defines anything. Enabled next to nixpkgs' services.mattermost it
  # defines nothing but its assertions (assertions.nix): both would define
  # systemd.services.mattermost and users.users.mattermost, and NixOS would report their
  # conflicting definitions instead of the way from one module to the other.
  active =
    config:
    config.services.gitlab-mattermost.enable && !(config.services.mattermost.enable or false);

  # The compiler's configuration: the value of every option that `names` (names.nix,
  # generated with options.nix) lists, under the compiler's snake_case name, and nothing
  # NixOS-only, since the compiler rejects unknown keys.
  # `loc` is the options' path so far.
  project =
    loc: names: values:
    lib.mapAttrs' (
      name: compiler:
      let
        here = loc ++ [ name ];
      in
      if builtins.isString compiler then
        lib.nameValuePair compiler (noNixPaths here values.${name})
      else if compiler ? attrsOf then
        # A map of sections: the keys are the user's names, each value a section.
        lib.nameValuePair compiler.name (
          lib.mapAttrs (key: project (here ++ [ key ]) compiler.attrsOf) values.${name}
        )
      else
        lib.nameValuePair compiler.name (project here compiler.options values.${name})
    ) names;

  # A Nix path in the configuration would be copied into the world-readable store by
  # builtins.toJSON. assertions.nix reports it with the option's name; this throw is the
  # backstop for anything that reads the configuration before the assertions are checked.
  noNixPaths =
    loc: value:
    if builtins.isPath value then
      throw "services.gitlab-mattermost: ${lib.concatStringsSep "." loc} holds a Nix path; give absolute paths as strings so that nothing is copied into the Nix store."
    else if builtins.isAttrs value && !lib.isDerivation value then
      lib.mapAttrs (name: noNixPaths (loc ++ [ name ])) value
    else if builtins.isList value then
      map (noNixPaths loc) value
    else
      value;

  # The compiler's `mattermost.version` (the settings catalogue it validates against) for a
  # Mattermost package version: "10.11" for the 10.11 Extended Support Release, "11.7" for any
  # 11 release; null for a version the compiler has no catalogue for.
  catalogueVersion =
    version:
    if lib.versions.majorMinor version == "10.11" then
      "10.11"
    else if lib.versions.major version == "11" then
      "11.7"
    else
      null;

  # { scheme, host, port } of a URL such as https://chat.example.com or http://[::1]:8065.
  parseUrl =
    url:
    let
      parts = builtins.match "(https?)://([^]/:[]+|[[][0-9a-fA-F:.]+])(:([0-9]+))?/?" url;
      scheme = builtins.elemAt parts 0;
      port = builtins.elemAt parts 3;
    in
    if parts == null then
      throw "services.gitlab-mattermost.externalUrl must be http(s)://HOST[:PORT] without a path, not ${builtins.toJSON url}."
    else
      {
        inherit scheme;
        host = builtins.elemAt parts 1;
        port =
          if port != null then
            lib.toInt port
          else if scheme == "https" then
            443
          else
            80;
      };

  # The sandbox of the module's oneshots (registration, integrations sync). They run as root
  # (they read root-only secrets, hand work to `runuser -u gitlab` for gitlab-rails and
  # start Mattermost), so this keeps the rest of the system read-only and out of reach;
  # each unit adds the few paths it writes (ReadWritePaths=, StateDirectory=).
  oneshotSandbox = {
    ProtectSystem = "strict";
    # Token files may be under /root.
    ProtectHome = "read-only";
    PrivateTmp = true;
    PrivateDevices = true;
    NoNewPrivileges = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictSUIDSGID = true;
    RestrictRealtime = true;
    RestrictNamespaces = true;
    LockPersonality = true;
    SystemCallArchitectures = "native";
    UMask = "0077";
  };

  # ReadWritePaths= entries that may not exist yet ("-": then left out rather than failing).
  writablePaths = paths: map (path: "-${path}") (lib.unique paths);

  # The address to reach a service that listens on `address` from this host.
  connectAddress =
    address:
    if address == "0.0.0.0" || address == "" then
      "127.0.0.1"
    else if address == "::" || address == "[::]" then
      "[::1]"
    else if lib.hasInfix ":" address && !lib.hasPrefix "[" address then
      "[${address}]"
    else
      address;
}
