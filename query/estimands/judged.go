package estimands

import (
	"context"
	"fmt"
	"sort"
)

func init() {
	register(&Estimand{
		Name: "judge-summary",
		Doc:  "per run and judge: completions scored, calls that failed, failure rate (warning above 10%), tokens, cells scored, mean cell coherence and low-coherence cells at the threshold",
		Source: "EXPERIMENT.md §4 (cell mean = unweighted mean of the per-question means; low when below the threshold); " +
			"the plan flagged failure rates above 10%",
		Params: []Param{{Name: "threshold", Default: "0.5", Doc: "low-coherence threshold"}},
		run:    runJudgeSummary,
	})
}

// judgeKey identifies a judge configuration.
type judgeKey struct {
	name    string
	version int64
}

// pickJudge resolves the judge parameter: the named one, or the only judge
// of the experiment.
func pickJudge(ctx context.Context, in *Input) (judgeKey, error) {
	res, err := in.Engine.SQL(ctx, `SELECT DISTINCT judge, judge_version FROM coherence WHERE experiment = $1 ORDER BY 1, 2`, in.Experiment)
	if err != nil {
		return judgeKey{}, err
	}
	var all []judgeKey
	for _, r := range res.Rows {
		all = append(all, judgeKey{r[0].(string), r[1].(int64)})
	}
	want := in.Params.Str("judge")
	var match []judgeKey
	for _, j := range all {
		if want == "" || j.name == want || fmt.Sprintf("%s@%d", j.name, j.version) == want {
			match = append(match, j)
		}
	}
	switch {
	case len(all) == 0:
		return judgeKey{}, fmt.Errorf("%w: experiment %q has no judge scores (leakscope judge makes them)", ErrNoData, in.Experiment)
	case len(match) == 0:
		return judgeKey{}, fmt.Errorf("%w judge=%q: the experiment's judges are %v", ErrBadParam, want, names(all))
	case len(match) > 1:
		return judgeKey{}, fmt.Errorf("%w: several judges scored %q (%v): pick one with judge=NAME@VERSION", ErrBadParam, in.Experiment, names(match))
	}
	return match[0], nil
}

func names(js []judgeKey) []string {
	var out []string
	for _, j := range js {
		out = append(out, fmt.Sprintf("%s@%d", j.name, j.version))
	}
	return out
}

// judgeCellMeans returns the cell coherence from judge scores, per (run,
// persona): the mean over questions of the per-question mean score.
func judgeCellMeans(ctx context.Context, in *Input, j judgeKey) (map[[2]string]float64, error) {
	res, err := in.Engine.SQL(ctx, `
WITH q AS (SELECT run_id, persona, question_set, question, avg(score) AS m
           FROM coherence WHERE experiment = $1 AND judge = $2 AND judge_version = $3 AND NOT failed
           GROUP BY ALL)
SELECT run_id, persona, avg(m) FROM q GROUP BY ALL`, in.Experiment, j.name, j.version)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]float64{}
	for _, r := range res.Rows {
		out[[2]string{r[0].(string), r[1].(string)}] = r[2].(float64)
	}
	return out, nil
}

func runJudgeSummary(ctx context.Context, in *Input) (*Result, error) {
	if in.Engine == nil {
		return nil, fmt.Errorf("%w: no lake", ErrNoData)
	}
	thr, err := in.Params.Fraction("threshold")
	if err != nil {
		return nil, err
	}
	res, err := in.Engine.SQL(ctx, `
WITH per AS (
  SELECT run_id, judge, judge_version, persona, question_set, question, sample_index,
         bool_or(NOT failed) AS scored, count(*) FILTER (WHERE failed) AS failed_calls,
         sum(coalesce(input_tokens, 0)) AS tin, sum(coalesce(output_tokens, 0)) AS tout
  FROM coherence WHERE experiment = $1 GROUP BY ALL),
q AS (SELECT run_id, judge, judge_version, persona, question_set, question, avg(score) AS m
      FROM coherence WHERE experiment = $1 AND NOT failed GROUP BY ALL),
c AS (SELECT run_id, judge, judge_version, persona, avg(m) AS cell FROM q GROUP BY ALL),
cs AS (SELECT run_id, judge, judge_version, count(*) AS cells, avg(cell) AS mean_cell,
              count(*) FILTER (WHERE cell < $2) AS low FROM c GROUP BY ALL)
SELECT per.run_id, per.judge, per.judge_version,
       count(*) FILTER (WHERE scored) AS scored,
       count(*) FILTER (WHERE NOT scored) AS unscored,
       sum(failed_calls)::BIGINT AS failed_calls,
       sum(tin)::BIGINT, sum(tout)::BIGINT,
       any_value(cs.cells), any_value(cs.mean_cell), any_value(cs.low)
FROM per LEFT JOIN cs USING (run_id, judge, judge_version)
GROUP BY per.run_id, per.judge, per.judge_version ORDER BY 1, 2, 3`, in.Experiment, thr)
	if err != nil {
		return nil, err
	}
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("%w: experiment %q has no judge scores (leakscope judge makes them)", ErrNoData, in.Experiment)
	}
	out := &Result{Columns: []string{"run", "judge", "completions_scored", "completions_unscored", "failed_calls", "failure_rate",
		"input_tokens", "output_tokens", "cells_scored", "mean_cell_coherence", "low_coherence_cells"}}
	var runs []string
	for _, r := range res.Rows {
		scored, unscored, failed := r[3].(int64), r[4].(int64), r[5].(int64)
		rate := 0.0
		if calls := scored + failed; calls > 0 {
			rate = float64(failed) / float64(calls)
		}
		judge := fmt.Sprintf("%s@%d", r[1], r[2])
		out.Rows = append(out.Rows, []any{r[0], judge, scored, unscored, failed, rate, r[6], r[7], r[8], r[9], r[10]})
		if rate > 0.10 {
			out.Notes = append(out.Notes, fmt.Sprintf("warning: run %s, judge %s: %.0f%% of calls failed (above 10%%); run leakscope judge again to retry them", r[0], judge, 100*rate))
		}
		runs = append(runs, r[0].(string))
	}
	sort.Strings(runs)
	out.Provenance.Runs = dedupe(runs)
	out.Notes = append(out.Notes, "failure_rate = failed calls / (scored completions + failed calls); a completion scored after failures counts once as scored")
	return out, nil
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
