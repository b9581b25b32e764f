// The wrapper module the system test builds Mattermost through (see tools.go): it pins
// Mattermost's two Go modules and carries the exclude/replace lines of upstream's
// server/go.mod, which a dependency's go.mod cannot pass on.
//
// 10 line: server/v8 at the 10.10 development cycle (commit 731bd7c4145f, 2025-06-10), the line
// Omnibus shipped until GitLab 18.5. No 10.11 commit of this module is served to this project's
// builds, so the 10.11 ESR that GitLab 18.6-18.11 shipped is not what runs here.

module gitlab-mattermost.invalid/system-test/mattermost

go 1.24.3

require (
	github.com/mattermost/mattermost/server/public v0.1.15
	github.com/mattermost/mattermost/server/v8 v8.0.0-20250610231028-731bd7c4145f
)

exclude (
	github.com/RoaringBitmap/roaring v0.7.0
	github.com/RoaringBitmap/roaring v0.7.1
	github.com/dyatlov/go-opengraph v0.0.0-20210112100619-dae8665a5b09
	github.com/willf/bitset v1.2.0
)

replace github.com/ledongthuc/pdf => github.com/ledongthuc/pdf v0.0.0-20240201131950-da5b75280b06

replace github.com/olekukonko/tablewriter => github.com/olekukonko/tablewriter v0.0.5
