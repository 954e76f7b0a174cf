package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"leakscope/gpuworker/engine"
)

// ServerError is an HTTP error answer of the server, after the SDK's
// retries: Server (the base URL), the request, the status and the
// server's message.
type ServerError struct {
	Server, Request string
	Status          int
	Message         string
	Tries           int
}

func (e *ServerError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Server, e.Request, e.Status, http.StatusText(e.Status), e.Message)
	if e.Tries > 1 {
		s += fmt.Sprintf(" (after %d tries)", e.Tries)
	}
	return s
}

// badRequest says whether a status means the request itself is wrong, so
// the same job would fail the same way on any worker: 400, 413 and 422.
// 401/403 (a key), 404 (a model or adapter the server lost in a restart)
// and the rest may pass on another try or worker.
func badRequest(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity
}

// callError turns a failed SDK call into an engine.Error naming the
// server, the request and the status (BadRequest for badRequest statuses);
// a cancelled ctx is returned as it is.
func (e *Engine) callError(ctx context.Context, op, request string, hr *http.Response, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	tries := e.cfg.MaxRetries + 1
	if hr != nil && hr.StatusCode >= 400 {
		se := &ServerError{Server: e.Server(), Request: request, Status: hr.StatusCode, Message: errorMessage(hr), Tries: 1}
		if retryable(hr.StatusCode) {
			se.Tries = tries
		}
		return &engine.Error{Op: op, Message: se.Error(), BadRequest: badRequest(hr.StatusCode)}
	}
	msg := fmt.Sprintf("%s %s: %v", e.Server(), request, unwrapURL(err))
	if tries > 1 {
		msg += fmt.Sprintf(" (after %d tries)", tries)
	}
	return &engine.Error{Op: op, Message: msg}
}

// retryable are the statuses the SDK repeats.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500
}

// errorMessage reads the server's message from an error answer: OpenAI's
// {"error": {"message"}}, vLLM's older {"message"}, TGI's {"error": "…"},
// else the body's first 300 bytes.
func errorMessage(hr *http.Response) string {
	if hr.Body == nil {
		return "(no body)"
	}
	b, _ := io.ReadAll(io.LimitReader(hr.Body, 64<<10))
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(b, &v) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			return inner.Message
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return s
		case v.Message != "":
			return v.Message
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(empty body)"
	}
	if len(b) > 300 {
		return strings.ToValidUTF8(string(b[:300]), "") + "…"
	}
	return string(b)
}

// unwrapURL drops net/url's "Post \"…\":" wrapping: the server is named already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
