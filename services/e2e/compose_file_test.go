package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeFile is the part of compose.yaml this test reads.
type composeFile struct {
	Services map[string]struct {
		Build struct {
			Target string `yaml:"target"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		Profiles    []string          `yaml:"profiles"`
	} `yaml:"services"`
}

// compose.yaml cannot run here (no Docker engine), so check what can be
// checked without one: every build target exists in deploy/Dockerfile,
// every flag a service is given — on its command line or as a LEAKSCOPE_*
// variable — is a flag of that binary, the cluster has three nodes on
// nats-cluster.conf, and the ingest replicas are distinct named writers.
func TestComposeFileMatchesTheBinaries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "compose.yaml"))
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "deploy", "Dockerfile"))
	require.NoError(t, err)

	gpuworker, ingest := staticBins(t)
	bins := map[string]string{"ingest": ingest, "gpuworker": gpuworker, "query": queryBin(t), "judge": judgeBin(t)}
	help := map[string]string{}
	flagsOf := func(target string, sub ...string) string {
		key := target + strings.Join(sub, " ")
		if h, ok := help[key]; ok {
			return h
		}
		out, err := exec.Command(bins[target], append(sub, "--help")...).CombinedOutput()
		require.NoError(t, err, string(out))
		help[key] = string(out)
		return help[key]
	}
	flag := regexp.MustCompile(`^--([a-z-]+)`)
	var nats, writers []string
	for name, s := range c.Services {
		target := s.Build.Target
		require.Regexp(t, `(?m)^FROM .* AS `+regexp.QuoteMeta(target)+`$`, string(dockerfile), "%s: build target %q", name, target)
		if target == "nats" {
			nats = append(nats, name)
			require.Equal(t, []string{"--config", "/etc/nats/nats-cluster.conf"}, s.Command, name)
			continue
		}
		var sub []string
		if len(s.Entrypoint) > 1 {
			sub = s.Entrypoint[1:3] // gpuworker sweep submit …
		}
		h := flagsOf(target, sub...)
		for _, arg := range append(append([]string{}, s.Entrypoint...), s.Command...) {
			if m := flag.FindStringSubmatch(arg); m != nil {
				require.Contains(t, h, "--"+m[1]+" ", "%s: %s has no flag %s", name, target, arg)
			}
		}
		for k := range s.Environment {
			if f, ok := strings.CutPrefix(k, "LEAKSCOPE_"); ok && !strings.HasSuffix(k, "_PASSWORD") {
				fl := strings.ReplaceAll(strings.ToLower(f), "_", "-")
				require.Contains(t, h, "--"+fl+" ", "%s: %s=… names no flag of %s", name, k, target)
			}
		}
		if target == "ingest" {
			for i, a := range s.Command {
				if a == "--writer" {
					writers = append(writers, s.Command[i+1])
				}
			}
		}
	}
	require.Len(t, nats, 3, "a three-node cluster")
	require.ElementsMatch(t, []string{"ingest-1", "ingest-2"}, writers, "two replicas, distinct writers")
}
