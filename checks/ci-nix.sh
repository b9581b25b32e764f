#!/usr/bin/env bash
# The Nix part of CI, run by .ci/run: every tracked .nix file must parse, and, when
# NIXPKGS_LIB points at nixpkgs' lib folder, the NixOS module is evaluated by checks/eval/run.
# CI reaches package registries only, so it cannot fetch nixpkgs: without NIXPKGS_LIB that
# evaluation is skipped, and says so. (The flake's own checks need Nix with network access:
# `nix flake check`.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v nix-instantiate >/dev/null; then
  echo "ci-nix: installing Debian's nix-bin for nix-instantiate"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y nix-bin >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y nix-bin >/dev/null
  }
fi
echo "ci-nix: $(nix-instantiate --version)"

parsed=0
failed=0
while IFS= read -r -d '' file; do
  if nix-instantiate --parse "$file" >/dev/null; then
    parsed=$((parsed + 1))
  else
    echo "ci-nix: $file does not parse" >&2
    failed=$((failed + 1))
  fi
done < <(git ls-files -z '*.nix')
echo "nix parse: $parsed passed, $failed failed"
[ "$failed" = 0 ]

if [ -n "${NIXPKGS_LIB:-}" ]; then
  # Let the compiler check the configurations the module produces, if it has been built.
  built="${CARGO_TARGET_DIR:-target}/debug/gitlab-mattermost"
  if [ -z "${GITLAB_MATTERMOST_BIN:-}" ] && [ -x "$built" ]; then
    export GITLAB_MATTERMOST_BIN="$built"
  fi
  checks/eval/run
else
  echo "SKIPPED: NIXPKGS_LIB is not set: checks/eval/run needs the lib folder of a nixpkgs checkout, which CI cannot fetch (no network beyond package registries)"
fi
