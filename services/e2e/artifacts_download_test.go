package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"leakscope/events/bus"
	"leakscope/gpuworker/engine"
	"leakscope/gpuworker/jobs"
	"leakscope/gpuworker/replay"
	"leakscope/services/internal/querysrv"
)

// Issue 21 item 4: the run page links the artifacts its jobs recorded and
// the query service serves their sealed copies — read with the
// deployment's query user — checked against the SHA-256 the lake records.
// Only artifacts a finished job recorded are served: an unknown name, an
// object of the store that no job recorded, and a sealed copy replaced
// after sealing are refused. Without an artifact reader the run page keeps
// pointing at the object store.
func TestRunPageDownloadsRecordedArtifacts(t *testing.T) {
	ctx, url, admin, s := deployedStack(t, 2*time.Minute)
	aq, err := jobs.Open(ctx, admin, 1)
	require.NoError(t, err)
	spec := scaleoutSpec(t)
	_, err = aq.Submit(ctx, spec)
	require.NoError(t, err)
	wb, err := bus.Connect(ctx, url("worker"), bus.DefaultConfig())
	require.NoError(t, err)
	defer wb.Close()
	wq, err := jobs.Open(ctx, wb, 1)
	require.NoError(t, err)
	w := &jobs.Worker{Queue: wq, Name: "w", WorkDir: t.TempDir(), AckWait: 30 * time.Second, Heartbeat: time.Second, Log: io.Discard,
		NewEngine: func(ctx context.Context) (engine.Engine, engine.Info, error) {
			e := &replay.Engine{Marker: "[ZLT]", Rates: scaleoutRates}
			info, err := e.Hello(ctx)
			return e, info, err
		}}
	require.NoError(t, w.Run(ctx, true))
	last, err := admin.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	require.NoError(t, admin.WaitDurable(ctx, last.CachedInfo().State.LastSeq, nil))

	// The adapter the training job recorded in the lake.
	e := openEngine(t, s.Lake)
	res, err := e.SQL(ctx, "SELECT run_id, detail FROM job_status WHERE experiment = 'scaleout' AND kind = 'train' AND status = 'finished'")
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	run := res.Rows[0][0].(string)
	var det struct {
		Artifact string `json:"artifact"`
		SHA256   string `json:"artifact_sha256"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Rows[0][1].(string)), &det))
	require.Equal(t, "scaleout/src_chef/s7/adapter.tar", det.Artifact)
	require.Len(t, det.SHA256, 64)
	sealed := det.Artifact + "@sha256:" + det.SHA256

	qb, err := bus.Connect(ctx, url("query"), bus.DefaultConfig())
	require.NoError(t, err)
	defer qb.Close()
	srv := httptest.NewServer(querysrv.Mux(e, nil, querysrv.WithArtifacts(querysrv.SealedArtifacts(qb))))
	defer srv.Close()

	code, page, _ := fetch(t, srv, "GET", "/experiments/scaleout/runs/"+run, "", nil)
	require.Equal(t, 200, code, page)
	links := regexp.MustCompile(`<a class="ls-artifact" href="([^"]+)"`).FindAllStringSubmatch(page, -1)
	require.Len(t, links, 2, "the on-policy data and the adapter")
	require.Regexp(t, `^/artifacts/scaleout/src_chef/s7/onpolicy.json@sha256:[0-9a-f]{64}$`, html.UnescapeString(links[0][1]))
	href := html.UnescapeString(links[1][1])
	require.Equal(t, "/artifacts/scaleout/src_chef/s7/adapter.tar@sha256:"+det.SHA256, href)
	require.NotContains(t, page, "which this query service does not read")

	resp, err := http.Get(srv.URL + href)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, string(body))
	require.Equal(t, `attachment; filename=scaleout_src_chef_s7_adapter.tar`, resp.Header.Get("Content-Disposition"))
	sum := sha256.Sum256(body)
	require.Equal(t, det.SHA256, hex.EncodeToString(sum[:]), "the download's SHA-256 is the recorded one")
	store, err := admin.JS.ObjectStore(ctx, jobs.SealedStore)
	require.NoError(t, err)
	stored, err := store.GetBytes(ctx, sealed)
	require.NoError(t, err)
	require.Equal(t, stored, body, "the sealed copy's bytes")

	// Refusals: no object of that name; a malformed name; an object of
	// the store that no job recorded.
	code, msg, _ := fetch(t, srv, "GET", "/artifacts/scaleout/nope.tar@sha256:"+strings.Repeat("0", 64), "", nil)
	require.Equal(t, 404, code)
	require.Contains(t, msg, "no finished job in the lake recorded it")
	code, msg, _ = fetch(t, srv, "GET", "/artifacts/scaleout/src_chef/s7/adapter.tar", "", nil)
	require.Equal(t, 404, code)
	require.Contains(t, msg, "not a sealed artifact&#39;s name")
	extra := []byte("not a job's artifact")
	xs := sha256.Sum256(extra)
	xname := "scaleout/extra.bin@sha256:" + hex.EncodeToString(xs[:])
	_, err = store.PutBytes(ctx, xname, extra)
	require.NoError(t, err)
	code, msg, _ = fetch(t, srv, "GET", "/artifacts/"+xname, "", nil)
	require.Equal(t, 404, code, "an unrecorded object is never served")
	require.Contains(t, msg, "no finished job in the lake recorded it")

	// The sealed copy's bytes changed under its metadata (its chunk
	// rewritten in the stream): the metadata still says the recorded
	// SHA-256, the bytes do not; refused.
	info, err := store.GetInfo(ctx, sealed)
	require.NoError(t, err)
	require.EqualValues(t, len(body), info.Size)
	require.Less(t, len(body), 128*1024, "one chunk")
	chunks := "$O." + jobs.SealedStore + ".C." + info.NUID
	ost, err := admin.JS.Stream(ctx, "OBJ_"+jobs.SealedStore)
	require.NoError(t, err)
	require.NoError(t, ost.Purge(ctx, jetstream.WithPurgeSubject(chunks)))
	forged := append([]byte(nil), body...)
	forged[len(forged)/2] ^= 1
	_, err = admin.JS.Publish(ctx, chunks, forged)
	require.NoError(t, err)
	code, msg, _ = fetch(t, srv, "GET", href, "", nil)
	require.Equal(t, http.StatusBadGateway, code, msg)
	require.Contains(t, msg, "artifact "+sealed+": read: ")
	require.Contains(t, msg, ": refused")

	// The sealed copy replaced after sealing (an admin's mistake or an
	// attack on the store): refused, no byte served.
	require.NoError(t, store.Delete(ctx, sealed))
	_, err = store.Put(ctx, jetstream.ObjectMeta{Name: sealed}, strings.NewReader("tampered adapter"))
	require.NoError(t, err)
	code, msg, _ = fetch(t, srv, "GET", href, "", nil)
	require.Equal(t, http.StatusBadGateway, code)
	require.Contains(t, msg, "the store&#39;s copy has SHA-256 "+sha256Hex("tampered adapter")+", but its job recorded "+det.SHA256+": refused")
	// ... and deleted: recorded, but gone.
	require.NoError(t, store.Delete(ctx, sealed))
	code, msg, _ = fetch(t, srv, "GET", href, "", nil)
	require.Equal(t, 404, code)
	require.Contains(t, msg, "recorded in the lake but not in the sealed artifact store")

	// The query user reads the sealed store but cannot write it.
	qs, err := qb.JS.ObjectStore(ctx, jobs.SealedStore)
	require.NoError(t, err)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = qs.PutBytes(pctx, xname, []byte("forged"))
	pcancel()
	require.Error(t, err, "the query user may not write sealed artifacts")
	got, err := store.GetBytes(ctx, xname)
	require.NoError(t, err)
	require.Equal(t, extra, got)

	// Standalone, without a bus: today's wording, no links, no downloads.
	plain := httptest.NewServer(querysrv.Mux(e, nil))
	defer plain.Close()
	code, page, _ = fetch(t, plain, "GET", "/experiments/scaleout/runs/"+run, "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, page, "which this query service does not read")
	require.NotContains(t, page, `class="ls-artifact"`)
	code, msg, _ = fetch(t, plain, "GET", href, "", nil)
	require.Equal(t, 404, code)
	require.Contains(t, msg, "reads no artifact store")
}
