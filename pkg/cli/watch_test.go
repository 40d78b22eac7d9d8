package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

func TestWatchRefusesBadNamesAndRegistersNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no_job", nil, 2, "name at least one job"},
		{"bare_id", []string{"abc123"}, 2, `cannot tell the kind of job "abc123"`},
		{"operation_without_model", []string{"operations/abc"}, 2, "names a video operation without its model"},
		{"url", []string{"https://generativelanguage.googleapis.com/v1beta/batches/abc"}, 2, "is a URL"},
		{"empty_batch_id", []string{"batches/"}, 2, `"batches/" is not a valid batch resource name`},
		{"nested_batch_id", []string{"batches/a/b"}, 2, `"batches/a/b" is not a valid batch resource name`},
		{"bad_model", []string{"models/../operations/x"}, 2, "is not a valid video resource name"},
		// One bad name among good ones: nothing is fetched or registered.
		{"one_bad_among_good", []string{"batches/good1", "interactions/good2", "unknown/x"}, 2, `cannot tell the kind of job "unknown/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newJobsStack(t)
			r := runCLI(t, st.env(receiverURL), append([]string{"watch"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q", tt.want)
			}
			st.assertUntouched(t)
		})
	}
}

func TestWatchUnknownJobRegistersNothing(t *testing.T) {
	t.Parallel()
	st := newJobsStack(t)
	known, err := st.sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, st.env(receiverURL), "watch", known, "batches/nosuchbatch")
	if r.code != 3 {
		t.Errorf("exit code %d, want 3", r.code)
	}
	if want := "the Gemini API does not know batches/nosuchbatch"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
	docs, err := st.fs.Collection(st.collection).Documents(t.Context()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 0 {
		t.Errorf("the registry holds %d job(s), want none: one unknown job registers none", len(docs))
	}
}

func TestWatchRegistersEachKind(t *testing.T) {
	t.Parallel()
	st := newJobsStack(t)
	running, err := st.sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	finished, err := st.sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.sim.CompleteBatch(finished); err != nil {
		t.Fatal(err)
	}
	research, err := st.sim.CreateInteraction(geminisim.InteractionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	video, err := st.sim.CreateVideo(geminisim.VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}

	before := time.Now().Truncate(time.Second)
	r := runCLI(t, st.env(receiverURL), "watch", running, finished, "interactions/"+research, video)
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	after := time.Now()
	for _, line := range []string{running, finished, "interactions/" + research, video} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("stdout does not list %s", line)
		}
	}
	if !strings.Contains(r.stdout, "Firestore collection "+st.collection) {
		t.Errorf("stdout does not say where the jobs were registered")
	}

	tests := []struct {
		name     string
		kind     event.Kind
		resource string
		// expected is how far after the run the job is expected; 0: at once.
		expected time.Duration
	}{
		{"running_batch", event.KindBatch, running, 24 * time.Hour},
		{"finished_batch", event.KindBatch, finished, 0},
		{"interaction", event.KindInteraction, "interactions/" + research, 20 * time.Minute},
		{"video", event.KindVideo, video, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := st.job(t, tt.kind, tt.resource)
			if j.Origin != registry.OriginWatched || j.State != registry.StatePending || j.Resource != tt.resource {
				t.Errorf("registered as %s/%s %q, want watched/pending %q", j.Origin, j.State, j.Resource, tt.resource)
			}
			lo, hi := before.Add(tt.expected).Add(-time.Second), after.Add(tt.expected)
			if j.ExpectedAt.Before(lo) || j.ExpectedAt.After(hi) {
				t.Errorf("expected at %s, want between %s and %s", j.ExpectedAt, lo, hi)
			}
		})
	}

	// Watching again changes nothing and says so.
	again := runCLI(t, st.env(receiverURL), "watch", running, "--json")
	if again.code != 0 {
		t.Fatalf("exit code %d, want 0", again.code)
	}
	out := jsonOut[struct {
		Jobs []struct {
			Job      string `json:"job"`
			Created  bool   `json:"created"`
			Registry string `json:"registry_state"`
			Origin   string `json:"origin"`
			State    string `json:"state"`
		} `json:"jobs"`
	}](t, again.stdout)
	if len(out.Jobs) != 1 || out.Jobs[0].Job != running || out.Jobs[0].Created || out.Jobs[0].Registry != "pending" || out.Jobs[0].Origin != "watched" {
		t.Errorf("second watch reported %+v, want %s already known, pending, watched", out.Jobs, running)
	}
}
