package config

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

// DefaultDeploymentName is the Worker Deployment the worker belongs to
// unless WORKER_DEPLOYMENT_NAME says otherwise.
const DefaultDeploymentName = "awdaflow"

// buildID is the release's build ID when the build sets one:
//
//	go build -ldflags "-X github.com/awdaflow/awdaflow/internal/config.buildID=v1.4.2" ./worker
var buildID string

// BinaryBuildID is the version of this binary, the worker's build ID
// unless WORKER_BUILD_ID says otherwise: the one linked in with -ldflags
// (buildID), else the VCS revision go build recorded (12 hex digits, with
// "-dirty" when the tree had uncommitted changes), else "" (go run, go
// test, a build outside a checkout).
func BinaryBuildID() string {
	if buildID != "" {
		return buildID
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return vcsBuildID(info.Settings)
}

func vcsBuildID(settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	rev = rev[:min(12, len(rev))]
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Version is the Worker Deployment Version the worker polls as:
// "<deployment>.<build ID>", as the temporal CLI prints it.
func (w Worker) Version() string { return w.DeploymentName + "." + w.BuildID }

// checkVersioning: the server takes names up to 255 characters, and a '.'
// in a deployment name would make "<deployment>.<build ID>" ambiguous.
func (w Worker) checkVersioning(r *envconfig.Reader) {
	switch {
	case w.DeploymentName == "":
		r.Fail(EnvWorkerDeployment, "must not be empty")
	case strings.Contains(w.DeploymentName, ".") || len(w.DeploymentName) > 255:
		r.Fail(EnvWorkerDeployment, fmt.Sprintf("%q: want at most 255 characters, no '.'", w.DeploymentName))
	}
	switch {
	case w.Versioning && w.BuildID == "":
		r.Fail(EnvWorkerBuildID, "required with "+EnvWorkerVersioning+"=true: this binary carries no version "+
			"(build it from a git checkout, or with -ldflags -X github.com/awdaflow/awdaflow/internal/config.buildID=…)")
	case len(w.BuildID) > 255:
		r.Fail(EnvWorkerBuildID, "want at most 255 characters")
	}
}
