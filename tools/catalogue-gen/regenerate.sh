#!/bin/sh
# Regenerate the per-version settings catalogues in crates/catalogue/data/ from
# Mattermost's own configuration model. Each supported Mattermost version has a go.mod
# naming the server/public module version it is read from:
#   10.11  go.mod       (server/public v0.1.16: the 10.11 line at its branch point)
#   11.7   go.11.mod    (server/public v0.2.1: the 11.6 development cycle, the newest served;
#                        no 11.7 module version is served)
# go.sum / go.11.sum pin every module, so this needs no checksum database.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../crates/catalogue/data"
cd "$here"
gen() { # version modfile
    out="$data/mattermost-settings-$1.tsv"
    GOFLAGS=-mod=readonly go run -modfile="$2" . "$1" > "$out.tmp"
    mv "$out.tmp" "$out"
    echo "$out: $(grep -vc '^#' "$out") lines (with the header row)"
}
gen 10.11 go.mod
gen 11.7 go.11.mod
