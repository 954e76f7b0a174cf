package events

import "fmt"

// Subject layout. Events travel on "leakscope.ev.<experiment>.<type>" so a
// consumer can filter by experiment and type; the dead-letter stream keeps
// rejected events on "leakscope.dlq.<reason-class>".
const (
	SubjectPrefix    = "leakscope.ev"
	SubjectAll       = SubjectPrefix + ".>"
	DeadLetterPrefix = "leakscope.dlq"
	DeadLetterAll    = DeadLetterPrefix + ".>"
)

// Subject is the subject an event is published on.
func Subject(e Event) string {
	return fmt.Sprintf("%s.%s.%s", SubjectPrefix, e.Experiment, e.Type)
}

// ExperimentSubject matches every event of one experiment.
func ExperimentSubject(experiment string) string {
	return fmt.Sprintf("%s.%s.>", SubjectPrefix, experiment)
}
