package config

import (
	"runtime/debug"
	"testing"
)

func TestVCSBuildID(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}, "0123456789ab"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}, "0123456789ab-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
		{[]debug.BuildSetting{{Key: "GOOS", Value: "linux"}}, ""},
	} {
		if got := vcsBuildID(tc.settings); got != tc.want {
			t.Errorf("vcsBuildID(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}

// An ldflags build ID wins over the VCS revision.
func TestBinaryBuildIDFromLdflags(t *testing.T) {
	defer func(old string) { buildID = old }(buildID)
	buildID = "v1.4.2"
	if got := BinaryBuildID(); got != "v1.4.2" {
		t.Errorf("BinaryBuildID() = %q", got)
	}
}
