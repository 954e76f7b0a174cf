package bus

import (
	"net/url"
	"strings"
)

// InboxPrefix is the reply-subject prefix of a connection to rawURL (a
// comma-separated server list; the first URL's user counts): "_INBOX_" +
// user for a URL with a user, so that a server's permissions can give
// each user its own inboxes (deploy/accounts.conf: a worker may subscribe
// to _INBOX_worker.> and to no other user's replies); "_INBOX", nats.go's
// default, without a user or for a user name that is no subject token.
func InboxPrefix(rawURL string) string {
	first, _, _ := strings.Cut(rawURL, ",")
	u, err := url.Parse(strings.TrimSpace(first))
	if err != nil || u.User == nil {
		return "_INBOX"
	}
	name := u.User.Username()
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n") {
		return "_INBOX"
	}
	return "_INBOX_" + name
}
