package gemini_test

import (
	"bufio"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// advanceBatch moves a PENDING batch to st.
func advanceBatch(t *testing.T, sim *geminisim.Server, name string, st geminisim.BatchState, jobErr geminisim.JobError) {
	t.Helper()
	var err error
	switch st {
	case geminisim.BatchPending:
	case geminisim.BatchRunning:
		err = sim.StartBatch(name)
	case geminisim.BatchSucceeded:
		_, err = sim.CompleteBatch(name)
	case geminisim.BatchFailed:
		_, err = sim.FailBatch(name, jobErr)
	case geminisim.BatchCancelled:
		_, err = sim.CancelBatch(name)
	case geminisim.BatchExpired:
		_, err = sim.ExpireBatch(name)
	default:
		t.Fatalf("unknown state %v", st)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestGetBatch_states(t *testing.T) {
	t.Parallel()
	results := geminisim.ResultsFile{Size: 40 * geminisim.DefaultLineSize, FailureRatio: 0.25, Seed: 3}
	lines, failed, err := results.Lines()
	if err != nil {
		t.Fatal(err)
	}
	jobErr := geminisim.JobError{Code: 13, Message: "internal failure"}
	cases := []struct {
		name      string
		state     geminisim.BatchState
		want      string
		done      bool
		wantStats gemini.BatchStats
		wantCode  int // 0: no error
	}{
		{"pending", geminisim.BatchPending, gemini.BatchPending, false, gemini.BatchStats{Requests: lines, Pending: lines}, 0},
		{"running", geminisim.BatchRunning, gemini.BatchRunning, false, gemini.BatchStats{Requests: lines, Pending: lines}, 0},
		{"succeeded", geminisim.BatchSucceeded, gemini.BatchSucceeded, true,
			gemini.BatchStats{Requests: lines, Succeeded: lines - failed, Failed: failed}, 0},
		{"failed", geminisim.BatchFailed, gemini.BatchFailed, true, gemini.BatchStats{Requests: lines, Failed: lines}, 13},
		{"cancelled", geminisim.BatchCancelled, gemini.BatchCancelled, true, gemini.BatchStats{Requests: lines, Pending: lines}, 1},
		{"expired", geminisim.BatchExpired, gemini.BatchExpired, true, gemini.BatchStats{Requests: lines, Pending: lines}, 4},
	}
	styles := []struct {
		name  string
		style geminisim.StateStyle
	}{{"batch_state", geminisim.StateStyleAPI}, {"job_state", geminisim.StateStyleGuide}}
	for _, style := range styles {
		for _, tc := range cases {
			t.Run(style.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envConfig{sim: geminisim.Options{StateStyle: style.style, Now: func() time.Time { return fixedNow }}})
				name, err := e.sim.CreateBatch(geminisim.BatchSpec{Results: results})
				if err != nil {
					t.Fatal(err)
				}
				advanceBatch(t, e.sim, name, tc.state, jobErr)
				// The raw state is spelled as the style says, so both
				// spellings really are exercised.
				if raw := string(rawGet(t, e, "/v1beta/"+name)); !json.Valid([]byte(raw)) ||
					!containsState(raw, tc.state.Wire(style.style)) {
					t.Fatalf("simulator does not send %s:\n%s", tc.state.Wire(style.style), raw)
				}

				b, err := e.client.GetBatch(testContext(t), name)
				if err != nil {
					t.Fatalf("GetBatch: %v", err)
				}
				want := &gemini.Batch{
					Name: name, State: tc.want, Done: tc.done, Stats: tc.wantStats, CreateTime: fixedNow, UpdateTime: fixedNow,
				}
				if tc.done {
					want.EndTime = fixedNow
				}
				if tc.state == geminisim.BatchSucceeded {
					want.ResponsesFile = b.ResponsesFile // checked below
				}
				if tc.wantCode != 0 {
					want.Error = &gemini.JobError{Code: tc.wantCode}
				}
				if diff := cmp.Diff(want, b, cmpopts.IgnoreFields(gemini.JobError{}, "Message")); diff != "" {
					t.Errorf("batch (-want +got):\n%s", diff)
				}
				switch {
				case b.Error == nil:
				case tc.state == geminisim.BatchFailed && b.Error.Message != jobErr.Message:
					t.Errorf("error message = %q, want %q", b.Error.Message, jobErr.Message)
				case b.Error.Message == "":
					t.Error("error has no message")
				}
				if tc.state == geminisim.BatchSucceeded {
					if c, ok := e.sim.File(b.ResponsesFile); !ok || c != geminisim.Content(results) {
						t.Errorf("ResponsesFile %q does not name the results file", b.ResponsesFile)
					}
				}
			})
		}
	}
}

// containsState reports whether a batch body has metadata.state == state.
func containsState(body, state string) bool {
	var op struct {
		Metadata struct {
			State string `json:"state"`
		} `json:"metadata"`
	}
	return json.Unmarshal([]byte(body), &op) == nil && op.Metadata.State == state
}

func TestGetBatch_inlined(t *testing.T) {
	t.Parallel()
	results := geminisim.ResultsFile{Size: 64 * geminisim.DefaultLineSize, FailureRatio: 0.2, Seed: 11}
	for _, style := range []geminisim.StateStyle{geminisim.StateStyleAPI, geminisim.StateStyleGuide} {
		e := newEnv(t, envConfig{sim: geminisim.Options{StateStyle: style}})
		name, err := e.sim.CreateBatch(geminisim.BatchSpec{Results: results, Inline: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.sim.CompleteBatch(name); err != nil {
			t.Fatal(err)
		}
		b, err := e.client.GetBatch(testContext(t), name)
		if err != nil {
			t.Fatalf("GetBatch: %v", err)
		}
		if b.State != gemini.BatchSucceeded || !b.Done || b.ResponsesFile != "" {
			t.Errorf("batch = %s done=%v file=%q, want a done SUCCEEDED inline batch", b.State, b.Done, b.ResponsesFile)
		}

		// The lines must say what the same results would say as a file:
		// same keys, same responses and errors, in order.
		var want []any
		sc := bufio.NewScanner(results.NewReader())
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			want = append(want, v)
		}
		var got []any
		var errs int64
		for i, line := range b.Inlined {
			var shape struct {
				Key      *string         `json:"key"`
				Response json.RawMessage `json:"response"`
				Error    json.RawMessage `json:"error"`
			}
			if !json.Valid(line) || json.Unmarshal(line, &shape) != nil || shape.Key == nil {
				t.Fatalf("line %d is not a results line: %s", i, line)
			}
			if (shape.Response == nil) == (shape.Error == nil) {
				t.Errorf("line %d has both or neither of response and error: %s", i, line)
			}
			if shape.Error != nil {
				errs++
			}
			for _, c := range line {
				if c == '\n' {
					t.Fatalf("line %d contains a newline", i)
				}
			}
			var v any
			_ = json.Unmarshal(line, &v)
			got = append(got, v)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("inlined lines differ from the results file (-want +got):\n%s", diff)
		}
		if errs != b.Stats.Failed || int64(len(b.Inlined)) != b.Stats.Requests {
			t.Errorf("%d lines with %d errors; stats say %+v", len(b.Inlined), errs, b.Stats)
		}
	}
}

func TestGetBatch_embeddings(t *testing.T) {
	t.Parallel()
	results := geminisim.ResultsFile{Size: 20 * geminisim.DefaultLineSize, FailureRatio: 0.25, Seed: 5}
	e := newEnv(t, envConfig{})
	name, err := e.sim.CreateBatch(geminisim.BatchSpec{Results: results, Inline: true, Embeddings: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CompleteBatch(name); err != nil {
		t.Fatal(err)
	}
	b, err := e.client.GetBatch(testContext(t), name)
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	if b.State != gemini.BatchSucceeded || b.ResponsesFile != "" {
		t.Fatalf("batch = %s file=%q, want a SUCCEEDED inline batch", b.State, b.ResponsesFile)
	}
	want := gemini.BatchStats{Requests: 20, Succeeded: 15, Failed: 5}
	if b.Stats != want || len(b.Inlined) != 20 {
		t.Fatalf("%d lines, stats %+v; want 20 lines, stats %+v", len(b.Inlined), b.Stats, want)
	}
	var failed int64
	for i, line := range b.Inlined {
		var l struct {
			Key      string `json:"key"`
			Response *struct {
				Embedding struct {
					Values []float64 `json:"values"`
				} `json:"embedding"`
			} `json:"response"`
			Error *gemini.JobError `json:"error"`
		}
		if err := json.Unmarshal(line, &l); err != nil || l.Key != "request-"+strconv.Itoa(i+1) {
			t.Fatalf("line %d is not a results line with key request-%d: %s", i, i+1, line)
		}
		switch {
		case l.Error != nil && l.Response == nil:
			failed++
		case l.Response == nil || l.Error != nil || len(l.Response.Embedding.Values) == 0:
			t.Errorf("line %d is neither an embedding nor an error: %s", i, line)
		}
	}
	if failed != want.Failed {
		t.Errorf("%d error lines, want %d", failed, want.Failed)
	}
}

func TestGetBatch_idForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	name, err := e.sim.CreateBatch(geminisim.BatchSpec{ID: "batch_123456"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"batch_123456", "batches/batch_123456"} {
		b, err := e.client.GetBatch(testContext(t), id)
		if err != nil {
			t.Fatalf("GetBatch(%q): %v", id, err)
		}
		if b.Name != name || b.State != gemini.BatchPending || b.Done {
			t.Errorf("GetBatch(%q) = %s %s done=%v", id, b.Name, b.State, b.Done)
		}
	}
}
