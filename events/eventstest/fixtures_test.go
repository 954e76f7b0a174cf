package eventstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A test skipped for an absent ../shared folder is counted: one line in
// the file SkipLogEnv names (the Makefile's test target prints the count).
func TestAbsentSharedFolderSkipIsRecorded(t *testing.T) {
	log := filepath.Join(t.TempDir(), "skips")
	t.Setenv(SkipLogEnv, log)
	t.Setenv("CI", "")
	for _, name := range []string{"no-such-folder-a", "no-such-folder-b"} {
		ran := false
		t.Run(name, func(t *testing.T) {
			sharedDir(t, name)
			ran = true
		})
		require.False(t, ran, "the subtest is skipped before its end")
	}
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, "no-such-folder-a\t"+wd+"\tTestAbsentSharedFolderSkipIsRecorded/no-such-folder-a\n"+
		"no-such-folder-b\t"+wd+"\tTestAbsentSharedFolderSkipIsRecorded/no-such-folder-b\n", string(b))

	// Without the variable nothing is written anywhere.
	t.Setenv(SkipLogEnv, "")
	t.Run("unlogged", func(t *testing.T) { sharedDir(t, "no-such-folder-c") })
	b, err = os.ReadFile(log)
	require.NoError(t, err)
	require.NotContains(t, string(b), "no-such-folder-c")
}
