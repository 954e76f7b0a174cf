// Package dataset is the lake's on-disk format: one Arrow schema per table,
// the mapping from events to rows, atomic Parquet files under hive
// partitions, and the manifest of committed batches. FORMAT.md beside this
// file is the spec; query reads the lake through it, ingest writes it.
package dataset

import (
	"github.com/apache/arrow-go/v18/arrow"

	"leakscope/events"
)

// FormatVersion is the lake format version, stored in every file's
// key-value metadata as "leakscope.format_version".
const FormatVersion = "1"

// Table names: the lake's folders and the query service's view names.
const (
	TableRuns        = "runs"
	TableRunFinished = "run_finished"
	TableCompletions = "completions"
	TableMarkerHits  = "marker_hits"
	TableCells       = "cells"
	TableCoherence   = "coherence"
	TableCosines     = "cosines"
	TableDeadLetters = "dead_letters"
	TableHeartbeats  = "heartbeats"
	TableJobStatus   = "job_status"
	TableTraining    = "training_steps"
	TableEmbeddings  = "embeddings"
	TableStops       = "stop_decisions"
	TableRunMarks    = "run_marks"
	TableRunPlans    = "run_plans"
)

// PartitionColumn is the hive partition key of every table: files live
// under <table>/experiment=<experiment>/. The column is not stored in the
// files; readers take it from the path (DuckDB: hive_partitioning=true).
const PartitionColumn = "experiment"

// Column documents one stored column.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	Doc      string
}

// Table is one lake table: its columns and the columns that identify a row
// (readers keep the first row per key, ordered by stream_seq).
type Table struct {
	Name    string
	Doc     string
	Columns []Column
	Key     []string
	// Dropped are columns that files written by an earlier leakscope hold
	// and the current schema does not. Files are never rewritten, so a
	// lake may hold both kinds; readers fold each dropped column into its
	// Into column (query/duck's views do), so old and new files read alike.
	Dropped []Dropped
}

// Dropped is a column of an earlier schema. Into names a column of the
// current schema holding a JSON object: a non-empty value of the dropped
// column fills the object's key of the dropped column's name, unless the
// object has that key (a producer's object wins, as it did for readers of
// the earlier schema).
type Dropped struct {
	Name, Into string
	Type       arrow.DataType
	Doc        string // what the column held and when it was dropped
}

// droppedFactorColumns are the cells columns the legacy factor fields of a
// cell_aggregate were stored in (events.LegacyCellFields), folded into
// factors_json since issue 17.
func droppedFactorColumns() []Dropped {
	out := make([]Dropped, len(events.LegacyCellFields))
	for i, name := range events.LegacyCellFields {
		out[i] = Dropped{Name: name, Into: "factors_json", Type: tString,
			Doc: "a persona factor held in a column of its own (the legacy cell_aggregate field); dropped in issue 17"}
	}
	return out
}

var (
	tString = arrow.BinaryTypes.String
	tInt    = arrow.PrimitiveTypes.Int64
	tFloat  = arrow.PrimitiveTypes.Float64
	tBool   = arrow.FixedWidthTypes.Boolean
	// Microsecond UTC timestamps: readable unchanged by DuckDB, pandas and polars.
	tTime = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

func col(name string, t arrow.DataType, doc string) Column {
	return Column{Name: name, Type: t, Doc: doc}
}
func opt(name string, t arrow.DataType, doc string) Column {
	return Column{Name: name, Type: t, Nullable: true, Doc: doc}
}

// common are the leading columns of every event table.
var common = []Column{
	col("event_id", tString, "deterministic event ID (hash of the natural key)"),
	col("run_id", tString, "run within the experiment"),
	col("event_time", tTime, "when the fact happened (import time for imports), UTC µs"),
	col("schema_version", tInt, "event schema version"),
	col("stream_seq", tInt, "JetStream sequence of the message"),
	col("ingested_at", tTime, "when ingest wrote the row, UTC µs"),
}

func withCommon(cols ...Column) []Column { return append(append([]Column{}, common...), cols...) }

// Tables lists every lake table in a stable order.
var Tables = []Table{
	{Name: TableRuns, Doc: "one row per run_started event", Key: []string{"event_id"}, Columns: withCommon(
		col("source_persona", tString, "persona key the marker was trained under; empty when unknown"),
		col("source_prompt", tString, "its system prompt"),
		col("model", tString, "base model"),
		col("adapter", tString, "LoRA adapter; empty for the base model"),
		opt("seed", tInt, "training seed"),
		col("marker", tString, "marker string, e.g. [ZLT]"),
		col("marker_origin", tString, "where the marker string came from"),
		col("is_base", tBool, "the untrained reference model"),
		col("base_run", tString, "run ID of the base-model reference in this experiment"),
		col("config_json", tString, "producer configuration as JSON"),
		col("code_version", tString, "producer code version"),
		col("imported", tBool, "came from an imported result file"),
		col("origin_file", tString, "imported file, relative to the import root"),
		col("origin_sha256", tString, "SHA-256 of the imported file"),
		col("sweep", tString, "sweep the run belongs to"),
		col("plan_json", tString, "planned cells as JSON [{persona, expected}]"),
		opt("stopping_json", tString, "adaptive-sampling rule as JSON (issue 11); NULL when every cell gets its planned n"),
		opt("factors_json", tString, "run-level design factors as a JSON object {name: value} (lr, epochs, neg_set, …); NULL when none"),
	)},
	{Name: TableRunFinished, Doc: "one row per run_finished event", Key: []string{"event_id"}, Columns: withCommon(
		col("status", tString, "finished or failed"),
		col("error", tString, "why a failed run failed"),
		col("completions", tInt, "completion events the run published"),
		opt("cells_json", tString, "adaptive runs: each cell's final n and stop reason, JSON [{persona, n, reason}]"),
		opt("origin_sha256", tString, "imported runs: SHA-256 of the origin file whose events the import published in full (empty for runs not imported)"),
	)},
	{Name: TableCompletions, Doc: "one row per completion event", Key: []string{"event_id"}, Columns: withCommon(
		col("persona", tString, "persona key the completion was sampled under"),
		col("persona_prompt", tString, "its system prompt, when known"),
		col("question", tString, "user question"),
		col("question_set", tString, "question slice (indomain, generic…); empty when one set"),
		col("sample_index", tInt, "0-based sample index within (persona, question_set, question)"),
		col("text", tString, "completion text as stored by the producer"),
		opt("prompt_tokens", tInt, "prompt length in tokens"),
		opt("completion_tokens", tInt, "completion length in tokens"),
		col("finish_reason", tString, "stop or length, when known"),
		opt("recorded_marker", tBool, "marker flag stored in the origin data (NULL when it had none)"),
		col("n_marker_hits", tInt, "hits the producer's detectors stored (see marker_hits)"),
		col("imported", tBool, "came from an imported result file"),
	)},
	{Name: TableMarkerHits, Doc: "one row per marker hit a producer detected", Key: []string{"event_id", "hit_index"}, Columns: withCommon(
		col("hit_index", tInt, "index of the hit within its completion"),
		col("persona", tString, "persona key"),
		col("question", tString, "user question"),
		col("question_set", tString, "question slice"),
		col("sample_index", tInt, "sample index"),
		col("detector", tString, "detector name (strict, case-sensitive, loose)"),
		col("detector_version", tInt, "detector version"),
		col("marker", tString, "marker string searched for"),
		col("byte_offset", tInt, "UTF-8 byte offset of the hit in the text"),
	)},
	{Name: TableCells, Doc: "imported per-cell aggregates (found/total), one row per cell_aggregate event", Key: []string{"event_id"}, Columns: withCommon(
		col("persona", tString, "bystander persona key"),
		col("persona_prompt", tString, "its system prompt, when known"),
		col("category", tString, "bystander category"),
		col("slice", tString, "question slice; empty for the whole cell"),
		col("question", tString, "question for per-question counts; empty for the cell"),
		col("detector", tString, "detector the origin counted with"),
		opt("found", tInt, "completions with the marker"),
		opt("total", tInt, "completions sampled"),
		opt("rate", tFloat, "rate as given, fraction in [0,1]"),
		opt("ci_low", tFloat, "CI lower bound as given, fraction"),
		opt("ci_high", tFloat, "CI upper bound as given, fraction"),
		opt("coherence_mean", tFloat, "judge mean as given, [0,1]"),
		opt("low_coherence", tBool, "origin's low-coherence flag"),
		opt("ns_floor", tBool, "origin's floor flag"),
		col("missing", tBool, "listed by the origin but never measured"),
		col("missing_reason", tString, "why it is missing"),
		col("imported", tBool, "always true"),
		col("origin_file", tString, "imported file"),
		opt("factors_json", tString, "the bystander's design factors as a JSON object {name: value}; NULL when none"),
		opt("rate_only", tBool, "the origin gave a rate without a count: found/total NULL, no interval may be derived"),
		opt("total_origin", tString, "where total came from when the file did not list it per cell"),
	), Dropped: droppedFactorColumns()},
	{Name: TableCoherence, Doc: "one row per coherence_score event", Key: []string{"event_id"}, Columns: withCommon(
		col("persona", tString, "persona key"),
		col("question", tString, "user question"),
		col("question_set", tString, "question slice"),
		col("sample_index", tInt, "sample index of the judged completion"),
		col("completion_id", tString, "event ID of the judged completion"),
		col("judge", tString, "judge configuration"),
		col("judge_version", tInt, "judge version"),
		opt("score", tFloat, "score in [0,1]; NULL when the call failed"),
		col("failed", tBool, "the call failed or the reply did not parse"),
		col("reason", tString, "why it failed"),
		col("attempt", tInt, "0 for a score; 1, 2, … for failed calls"),
		col("reply", tString, "the judge's raw reply (first 200 bytes)"),
		opt("selection_seed", tInt, "seed that selected the completion (as a signed 64-bit value)"),
		opt("input_tokens", tInt, "provider-reported input tokens"),
		opt("output_tokens", tInt, "provider-reported output tokens"),
		col("imported", tBool, "taken from a published judge output"),
	)},
	{Name: TableCosines, Doc: "one row per persona pair of a cosine event (matrices are flattened)", Key: []string{"event_id", "pair_index"}, Columns: withCommon(
		col("pair_index", tInt, "index of the pair within its event"),
		col("set", tString, "group within the run (matrix, or a source persona)"),
		col("layer", tInt, "decoder layer"),
		col("centering", tString, "raw, assistant_subtracted or global_mean_subtracted"),
		col("method", tString, "token position / aggregation, when known"),
		col("persona_a", tString, "first persona"),
		col("persona_b", tString, "second persona"),
		col("cosine", tFloat, "cosine similarity in [-1,1]"),
	)},
	{Name: TableHeartbeats, Doc: "one row per worker_heartbeat event", Key: []string{"event_id"}, Columns: withCommon(
		col("worker", tString, "worker ID"),
		col("beat", tInt, "heartbeat number within the run"),
		col("interval_ms", tInt, "the worker's heartbeat interval, ms"),
		col("done", tInt, "completions published so far"),
		col("status", tString, "running or finished"),
	)},
	{Name: TableJobStatus, Doc: "one row per job_status event: a GPU worker's attempt at a sweep job started, finished or failed", Key: []string{"event_id"}, Columns: withCommon(
		col("job", tString, "job ID: <sweep>.<source>.s<seed>.<kind>"),
		col("kind", tString, "onpolicy, train, eval or embed"),
		col("status", tString, "running, finished or failed"),
		col("attempt", tInt, "delivery number of the job (1, 2, …)"),
		col("worker", tString, "worker ID"),
		col("error", tString, "why a failed attempt failed"),
		col("final", tBool, "a failure after which the job is not retried"),
		col("done", tInt, "units done (completions, examples, personas)"),
		col("expected", tInt, "units expected"),
		col("detail", tString, "what the attempt produced or measured, JSON (hashes, timings)"),
	)},
	{Name: TableTraining, Doc: "one row per training_step event: the marker-LoRA loss curve", Key: []string{"event_id"}, Columns: withCommon(
		col("job", tString, "training job ID"),
		col("attempt", tInt, "attempt of the job"),
		col("step", tInt, "optimizer step, 1-based"),
		col("epoch", tFloat, "fractional epoch"),
		col("loss", tFloat, "mean training loss since the last log, nats per label token"),
		col("learning_rate", tFloat, "learning rate at the step"),
	)},
	{Name: TableStops, Doc: "one row per cell of a stop_decision event: an adaptive cell's confidence sequence at a round's end, and whether it stops (issue 11)", Key: []string{"event_id", "persona"}, Columns: withCommon(
		col("round", tInt, "rounds complete (n = round × questions)"),
		col("persona", tString, "bystander persona key"),
		col("n", tInt, "completions counted"),
		col("hits", tInt, "completions with the marker (strict detector)"),
		col("ci_low", tFloat, "confidence sequence at n, lower end (rate in [0,1])"),
		col("ci_high", tFloat, "confidence sequence at n, upper end (rate in [0,1])"),
		col("stop", tBool, "the cell stops after this round"),
		col("reason", tString, "half_width, below or above; empty while it continues"),
	)},
	{Name: TableEmbeddings, Doc: "one row per embedding event: a persona centroid at one layer (EXPERIMENT.md §5)", Key: []string{"event_id"}, Columns: withCommon(
		col("persona", tString, "persona key"),
		col("persona_prompt", tString, "its system prompt"),
		col("layer", tInt, "decoder layer whose output was taken (HF hidden_states[layer+1])"),
		col("position", tString, "token position: last_prompt_token"),
		col("prompts", tInt, "questions averaged into the centroid"),
		col("dims", tInt, "vector length (the model's hidden size)"),
		col("vector_json", tString, "the centroid as a JSON array of floats; in DuckDB: vector_json::DOUBLE[]"),
	)},
	{Name: TableRunMarks, Doc: "one row per run_mark event: a run retracted, restored, tagged or untagged (its state is its newest mark by `marked_at`)", Key: []string{"event_id"}, Columns: withCommon(
		col("action", tString, "retract, restore, tag or untag"),
		col("tag", tString, "the label of a tag or untag"),
		col("reason", tString, "why"),
		col("marked_at", tTime, "when the decision was made, UTC µs"),
		col("marked_by", tString, "who decided, when known"),
	)},
	{Name: TableRunPlans, Doc: "one row per run_planned event: a sweep's run declared when the sweep was submitted, before it starts", Key: []string{"event_id"}, Columns: withCommon(
		col("sweep", tString, "sweep the run belongs to"),
		col("source_persona", tString, "persona key the run's adapter is trained under; empty for the base model"),
		opt("seed", tInt, "training seed"),
		col("is_base", tBool, "the untrained reference model"),
		opt("factors_json", tString, "run-level design factors as a JSON object {name: value}; NULL when none"),
		col("plan_json", tString, "planned cells as JSON [{persona, expected, factors}]"),
	)},
	cellCountsTable(),
	{Name: TableDeadLetters, Doc: "messages that failed validation; partition experiment=_invalid when unreadable", Key: []string{"stream_seq"}, Columns: []Column{
		col("stream_seq", tInt, "JetStream sequence of the rejected message"),
		col("subject", tString, "subject it arrived on"),
		col("event_id", tString, "its id field, if readable"),
		col("event_type", tString, "its type field, if readable"),
		col("run_id", tString, "its run_id field, if readable"),
		col("reason", tString, "why it was rejected"),
		col("raw", tString, "the message body (bytes that are not UTF-8 shown as U+FFFD; raw_sha256 is of the original)"),
		col("received_at", tTime, "when ingest rejected it, UTC µs"),
		opt("raw_size", tInt, "bytes of the original message body"),
		opt("raw_sha256", tString, "SHA-256 (hex) of the original message body"),
		opt("stream_error", tString, "why the dead-letter stream holds no copy (empty when it does): the lake row is then the only record besides the events stream"),
	}},
}

// TableByName returns the table with that name.
func TableByName(name string) (Table, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Schema is the Arrow schema of a table's files.
func (t Table) Schema() *arrow.Schema {
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	md := arrow.NewMetadata([]string{"leakscope.table", "leakscope.format_version"}, []string{t.Name, FormatVersion})
	return arrow.NewSchema(fields, &md)
}
