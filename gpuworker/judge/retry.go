package judge

import (
	"context"
	"errors"
	"time"
)

// Retry says how often and how patiently a call is repeated.
type Retry struct {
	Attempts int           // total tries, >= 1
	Base     time.Duration // first backoff; doubled each time
	Max      time.Duration // backoff ceiling (a provider's Retry-After is honoured even above it)
}

// MaxRetryAfter caps a provider's Retry-After (a misconfigured server may
// ask for days).
const MaxRetryAfter = 5 * time.Minute

// DefaultRetry tries 5 times, waiting 1, 2, 4, 8 s (or what Retry-After says).
func DefaultRetry() Retry { return Retry{Attempts: 5, Base: time.Second, Max: 30 * time.Second} }

// call runs p.Call until it succeeds, fails for good, or the attempts are
// spent; it returns the last error and how many calls were made.
func (r Retry) call(ctx context.Context, p Provider, system, user string) (Reply, int, error) {
	wait := r.Base
	var err error
	for i := 1; ; i++ {
		var rep Reply
		rep, err = p.Call(ctx, system, user)
		if err == nil {
			return rep, i, nil
		}
		var ce *CallError
		if !errors.As(err, &ce) || !ce.Retryable || i >= r.Attempts {
			return Reply{}, i, err
		}
		d := min(wait, r.Max)
		if ce.RetryAfter > 0 {
			d = min(ce.RetryAfter, MaxRetryAfter) // honoured, within reason
		}
		select {
		case <-ctx.Done():
			return Reply{}, i, ctx.Err()
		case <-time.After(d):
		}
		wait *= 2
	}
}
