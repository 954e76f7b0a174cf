package duck

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: an empty statement was answered "the statement cannot be
// bounded (end it without a dangling comment): syntax error at or near ')'".
// It is refused as empty, an SQL error (400 over HTTP).
func TestUserQueryRefusesAnEmptyStatement(t *testing.T) {
	db := oneCompletionLake(t)
	for _, q := range []string{"", "  \n\t", ";", " ; "} {
		_, err := db.UserQuery(context.Background(), q, 0)
		require.ErrorIs(t, err, ErrSQL, "%q", q)
		require.EqualError(t, err, "sql: the statement is empty: give one SELECT (e.g. SELECT count(*) FROM completions)", "%q", q)
	}
}
