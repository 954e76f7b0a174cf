package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"leakscope/query"
)

// samplesParams are the query parameters of /api/samples and the samples page.
var samplesParams = []string{"experiment", "run", "bystander", "hits", "detector", "marker", "limit", "offset"}

// SamplesRequestOf reads a samples request from query parameters
// (experiment, run, bystander required; hits, detector, marker, limit,
// offset optional), refusing unknown parameters and non-integers.
func SamplesRequestOf(v url.Values) (query.SamplesRequest, error) {
	if err := onlyParams(v, samplesParams...); err != nil {
		return query.SamplesRequest{}, err
	}
	for _, k := range samplesParams {
		if len(v[k]) > 1 {
			return query.SamplesRequest{}, fmt.Errorf("%s is given %d times: give one", k, len(v[k]))
		}
	}
	req := query.SamplesRequest{Experiment: v.Get("experiment"), Run: v.Get("run"), Bystander: v.Get("bystander"),
		Hits: v.Get("hits"), Detector: v.Get("detector"), Marker: v.Get("marker")}
	if req.Hits == "all" {
		req.Hits = query.HitsAll
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &req.Limit}, {"offset", &req.Offset}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return req, fmt.Errorf("%s=%q: want a whole number", p.name, s)
			}
			*p.dst = n
		}
	}
	for _, k := range []string{"experiment", "run", "bystander"} {
		if v.Get(k) == "" {
			return req, fmt.Errorf("query parameter %s is required, e.g. ?experiment=E&run=R&bystander=B", k)
		}
	}
	return req, nil
}

// LookupStatus is the HTTP status of an error of a lookup (/api/samples,
// the web pages): an unknown experiment, run or bystander is 404 (what was
// asked for is not there), a bad parameter 400, anything else as statusOf.
func LookupStatus(err error) int {
	if errors.Is(err, query.ErrUnknownExperiment) {
		return http.StatusNotFound
	}
	return statusOf(err)
}
