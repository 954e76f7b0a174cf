package events

import (
	"testing"
	"time"
)

// FuzzDecode: no input makes Decode panic, and whatever it accepts
// re-encodes to an event that decodes to the same event.
func FuzzDecode(f *testing.F) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	one := 1
	for _, p := range []Payload{
		&Run{Marker: "[ZLT]", Sweep: "s", Plan: []PlannedCell{{Persona: "p", Expected: 2}}},
		&Completion{Persona: "p", Question: "q", Text: "a [ZLT]", MarkerHits: []MarkerHit{{Detector: "strict", Version: 1, Marker: "[ZLT]", ByteOffset: 2}}},
		&CellAggregate{Persona: "p", Detector: "strict", Found: &one, Total: &one, Imported: true, OriginFile: "f"},
		&Cosine{Set: "m", Centering: CenteringRaw, Pairs: []CosinePair{{A: "a", B: "b", Cosine: 0.5}}},
		&Heartbeat{Worker: "w", Beat: 1, IntervalMS: 100, Status: "running"},
	} {
		e, err := New("exp", "run", t0, p)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := Encode(e)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"completion"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("accepted event does not re-encode: %v", err)
		}
		e2, err := Decode(b)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, b)
		}
		if e2.ID != e.ID || e2.Type != e.Type {
			t.Fatalf("round trip changed the event: %v vs %v", e, e2)
		}
	})
}
