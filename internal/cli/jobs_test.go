package cli

import (
	"strings"
	"testing"
)

// TestJobsArgs: the subcommands on one job refuse a malformed ID, naming
// it, before they ask the server (none listens at --server).
func TestJobsArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "abc"}, `job ID "abc": want a positive number`},
		{[]string{"cancel", "0"}, `job ID "0": want a positive number`},
		{[]string{"wait", "--timeout", "1s", "--", "-3"}, `job ID "-3": want a positive number`},
		{[]string{"show"}, "accepts 1 arg(s), received 0"},
		{[]string{"cancel", "1", "2"}, "accepts 1 arg(s), received 2"},
	} {
		args := append([]string{"jobs", "--server", "http://127.0.0.1:1", "--api-key", "k"}, tc.args...)
		code, _, stderr := run(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
