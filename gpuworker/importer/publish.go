package importer

import (
	"fmt"

	"leakscope/events"
)

// Origin locates one event of a plan: the file as given or walked, and the
// position inside it as in FileError.Pos (a JSON path, a CSV line and
// column); Pos is "" for the run_started and run_finished events the
// importer derives for a run.
type Origin struct {
	Path, Pos string
}

// CheckSize fails with a *FileError naming the file and the position of
// the first event whose bus message would exceed limit bytes (the server's
// max payload: nats.Conn.MaxPayload). size returns an event's message size
// in bytes, headers included (events/bus.MessageSize). Call it before
// publishing anything, so a file is never stored in part for want of room.
func (p Plan) CheckSize(limit int64, size func(events.Event) (int, error)) error {
	for i, e := range p.Events {
		n, err := size(e)
		if err != nil {
			return p.errAt(i, err)
		}
		if int64(n) > limit {
			return p.errAt(i, fmt.Errorf("this %s event is %d bytes as a bus message, over the bus's max payload of %d bytes: shorten it or raise the server's max_payload (nothing was published)", e.Type, n, limit))
		}
	}
	return nil
}

func (p Plan) errAt(i int, err error) error {
	if i < len(p.Origins) {
		return &FileError{Path: p.Origins[i].Path, Pos: p.Origins[i].Pos, Err: err}
	}
	return err
}

// Finishing splits the plan's events for publishing: body is every event
// but the imported runs' run_finished; finish is those run_finished
// events, the import ledger, to be published only once every event of
// body is acknowledged. An import that fails part-way thus leaves its runs
// unfinished, and a corrected file may complete them.
func (p Plan) Finishing() (body, finish []events.Event) {
	for _, e := range p.Events {
		if e.Type == events.TypeRunFinished {
			finish = append(finish, e)
		} else {
			body = append(body, e)
		}
	}
	return body, finish
}
