// Package gpuworker is where events come from: producers that publish runs,
// completions, marker hits and judge scores on the bus through the same
// events/bus publishing path. Today it holds the importer
// (gpuworker/importer), which re-publishes the authors' published result
// files as events, and the coherence judge (gpuworker/judge). The worker
// daemon that takes jobs from the bus and drives the replay and GPU engines
// (gpuworker/engine, Python: transformers + peft) builds on the same path
// (issues 5 and 6).
package gpuworker
