package bus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInboxPrefixIsTheUsers(t *testing.T) {
	for url, want := range map[string]string{
		"nats://worker:pw@nats-1:4222,nats://worker:pw@nats-2:4222": "_INBOX_worker",
		"nats://ingest:pw@127.0.0.1:4222":                           "_INBOX_ingest",
		"nats://token@127.0.0.1:4222":                               "_INBOX_token",
		"nats://127.0.0.1:4222":                                     "_INBOX", // no user
		"":                                                          "_INBOX", // in-process
		"nats://a.b:pw@h:4222":                                      "_INBOX", // no subject token
		"nats://a%3Eb:pw@h:4222":                                    "_INBOX",
		"://bad":                                                    "_INBOX",
	} {
		require.Equal(t, want, InboxPrefix(url), url)
	}
}
