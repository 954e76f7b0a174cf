package workercmd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// --kinds: an engine that samples on a server takes on-policy and eval
// jobs only, and says why it cannot take the others.
func TestTakesChecksKinds(t *testing.T) {
	got, err := takes("hf", nil)
	require.NoError(t, err)
	require.Nil(t, got, "hf takes every kind")
	got, err = takes("openai", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"onpolicy", "eval"}, got)
	got, err = takes("replay", []string{"train", "embed"})
	require.NoError(t, err)
	require.Equal(t, []string{"train", "embed"}, got)
	_, err = takes("openai", []string{"eval", "train"})
	require.EqualError(t, err, "--kinds train: --engine openai cannot run train jobs (it samples on a server: onpolicy and eval); training and embeddings run on --engine hf")
	_, err = takes("hf", []string{"evals"})
	require.EqualError(t, err, "--kinds evals: want job kinds of onpolicy, train, eval, embed")
}
