package importer

import (
	"fmt"
	"unicode/utf8"

	"leakscope/events"
	"leakscope/events/marker"
)

// parseCompletionList imports a per-completion list (EXPERIMENT.md §8.2:
// directed_trait_transfer arm_a_completions.json, proximity_transfer
// expA_completions.json):
//
//	[{persona, question, completion, marker_present, q_type?, condition?, completion_idx?}]
//
// and its prompt_length_control variant, which has no persona:
//
//	[{condition, persona_prompt, q_type, question, completion_idx, completion, marker_present}]
//
// where the persona key is `condition` and PersonaPrompt is `persona_prompt`.
//
// One Completion per record, in file order: Text = completion (as stored),
// RecordedMarker = marker_present (the origin's flag, kept as recorded),
// QuestionSet = q_type, SampleIndex = completion_idx when present, else the
// record's ordinal among records of the same (persona, q_type, question).
// MarkerHits are the strict, case-sensitive and loose hits on the stored text.
func parseCompletionList(c *fileCtx, top jv) error {
	recs, err := top.arr()
	if err != nil {
		return err
	}
	variant := c.report.Format == FormatPromptLengthList
	if variant {
		c.note("prompt_length_control records have no persona: persona = condition, PersonaPrompt = persona_prompt")
	}
	s := c.seg(c.loc.Run)
	ordinal := map[[3]string]int{}
	var cmp flagComparison
	var tally marker.Tally
	for _, r := range recs {
		if _, err := r.obj(); err != nil {
			return err
		}
		personaKey := "persona"
		if variant {
			personaKey = "condition"
		}
		persona, err := r.get(personaKey).str()
		if err != nil {
			return err
		}
		question, err := r.get("question").str()
		if err != nil {
			return err
		}
		text, err := r.get("completion").str()
		if err != nil {
			return err
		}
		flag, err := r.get("marker_present").boolean()
		if err != nil {
			return err
		}
		qset, err := optString(r, "q_type")
		if err != nil {
			return err
		}
		prompt, err := optString(r, "persona_prompt")
		if err != nil {
			return err
		}
		if _, err := optString(r, "condition"); err != nil {
			return err
		}
		k := [3]string{persona, qset, question}
		idx := ordinal[k]
		ordinal[k]++
		if r.has("completion_idx") {
			if idx, err = r.get("completion_idx").count(); err != nil {
				return err
			}
		}
		cmp.add(flag, strictHit(c.marker, text), text)
		tally.Add(flag, text)
		p := &events.Completion{
			Persona: persona, PersonaPrompt: prompt, Question: question, QuestionSet: qset,
			SampleIndex: idx, Text: text, RecordedMarker: ptr(flag),
			MarkerHits: detectAll(c.marker, text), Imported: true,
		}
		if err := c.add(s, r.path, p); err != nil {
			return err
		}
	}
	guess, gross := markerVerdict(&cmp, &tally, c.marker)
	c.report.MarkerGuess = guess
	switch {
	case gross != "":
		c.note("%s", gross) // the truncation story does not explain a wrong marker
	case guess != nil && (cmp.recordedOnly > 0 || cmp.strictOnly > 0):
		c.note("%s; %s", cmp.note(c.marker), guess.Message)
	default:
		c.note("%s", cmp.note(c.marker))
	}
	return nil
}

// optString reads an optional string member ("" when absent).
func optString(r jv, key string) (string, error) {
	if !r.has(key) {
		return "", nil
	}
	return r.get(key).str()
}

// flagComparison tallies the origin's recorded flags against strict
// detection on the stored text (EXPERIMENT.md §8.2: proximity_transfer
// stores text cut to 500 characters but flags computed on the full text).
type flagComparison struct {
	n, recorded, strict       int
	recordedOnly, strictOnly  int
	maxLen, atMax, recOnlyMax int
	lens                      []int
	recOnlyLens               []int
}

func (f *flagComparison) add(recorded, strict bool, text string) {
	f.n++
	l := utf8.RuneCountInString(text)
	f.lens = append(f.lens, l)
	if recorded {
		f.recorded++
	}
	if strict {
		f.strict++
	}
	switch {
	case recorded && !strict:
		f.recordedOnly++
		f.recOnlyLens = append(f.recOnlyLens, l)
	case strict && !recorded:
		f.strictOnly++
	}
}

func (f *flagComparison) note(marker string) string {
	if f.recordedOnly == 0 && f.strictOnly == 0 {
		return fmt.Sprintf("recorded flag equals strict detection of %q on all %d records (%d flagged)", marker, f.n, f.recorded)
	}
	for _, l := range f.lens {
		if l > f.maxLen {
			f.maxLen = l
		}
	}
	for _, l := range f.lens {
		if l == f.maxLen {
			f.atMax++
		}
	}
	for _, l := range f.recOnlyLens {
		if l == f.maxLen {
			f.recOnlyMax++
		}
	}
	msg := fmt.Sprintf("recorded flags %d vs strict hits on stored text %d (%q; %d flagged but not detected, %d detected but not flagged); both are kept: RecordedMarker holds the flag, MarkerHits the detection",
		f.recorded, f.strict, marker, f.recordedOnly, f.strictOnly)
	if f.recordedOnly > 0 && f.recOnlyMax == f.recordedOnly && f.atMax > 1 {
		msg += fmt.Sprintf("; stored text is truncated at %d chars (%d texts have exactly that length, including every flagged-but-undetected one): the flag was computed on the full text (EXPERIMENT.md §8.2)", f.maxLen, f.atMax)
	}
	return msg
}

// parseRawCompletions imports raw completions (EXPERIMENT.md §2.3, §8.2
// issue_205):
//
//	{persona: {question: [text, …]}}
//
// One Completion per text, SampleIndex = its list index, no RecordedMarker;
// personas and questions come in key order.
func parseRawCompletions(c *fileCtx, top jv) error {
	personas, err := top.keys()
	if err != nil {
		return err
	}
	s := c.seg(c.loc.Run)
	n, hits := 0, 0
	for _, persona := range personas {
		pn := top.get(persona)
		questions, err := pn.keys()
		if err != nil {
			return err
		}
		for _, q := range questions {
			texts, err := pn.get(q).arr()
			if err != nil {
				return err
			}
			for i, t := range texts {
				text, err := t.str()
				if err != nil {
					return err
				}
				n++
				if strictHit(c.marker, text) {
					hits++
				}
				p := &events.Completion{Persona: persona, Question: q, SampleIndex: i, Text: text,
					MarkerHits: detectAll(c.marker, text), Imported: true}
				if err := c.add(s, t.path, p); err != nil {
					return err
				}
			}
		}
	}
	c.note("%d completions of %d personas, no recorded flag; strict detection of %q on the text: %d hits", n, len(personas), c.marker, hits)
	return nil
}
