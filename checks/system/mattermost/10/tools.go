//go:build tools

// Package tools names the two Mattermost programs the system test builds, so that go.mod and
// go.sum pin everything they need. It is never compiled (the tools build tag is never set):
// the build is `go build -tags production github.com/mattermost/mattermost/server/v8/cmd/...`
// from this folder (see ../../harness/mattermost.py). Do not run `go mod tidy` here: it also
// follows the enterprise build tags, whose modules are private.
package tools

import (
	_ "github.com/mattermost/mattermost/server/v8/cmd/mattermost"
	_ "github.com/mattermost/mattermost/server/v8/cmd/mmctl"
)
