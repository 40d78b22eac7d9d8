package materializer_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/report"
)

// job is a finished simulated job: the notification Gemini sends for it and
// its folder under the results prefix ("<kind>/<id>/").
type job struct {
	n      event.Payload
	folder string
}

func finishedBatch(t testing.TB, sim *geminisim.Server, spec geminisim.BatchSpec) job {
	t.Helper()
	name, err := sim.CreateBatch(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.StartBatch(name); err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteBatch(name)
	if err != nil {
		t.Fatal(err)
	}
	return job{n: n, folder: "batch/" + path.Base(name) + "/"}
}

func finishedInteraction(t testing.TB, sim *geminisim.Server, spec geminisim.InteractionSpec) job {
	t.Helper()
	id, err := sim.CreateInteraction(spec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteInteraction(id)
	if err != nil {
		t.Fatal(err)
	}
	return job{n: n, folder: "interaction/" + id + "/"}
}

func finishedVideo(t testing.TB, sim *geminisim.Server, spec geminisim.VideoSpec) job {
	t.Helper()
	name, err := sim.CreateVideo(spec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteVideo(name)
	if err != nil {
		t.Fatal(err)
	}
	return job{n: n, folder: "video/" + path.Base(name) + "/"}
}

// citedReport is an interaction report with two sources, one cited twice.
const citedReport = "Alpha precedes beta. Beta follows alpha. Gamma is last.\n"

var reportCitations = []geminisim.Citation{
	{URL: "https://alpha.example/source", Title: "Alpha", StartIndex: 0, EndIndex: 20},
	{URL: "https://beta.example/source", Title: "Beta", StartIndex: 21, EndIndex: 40},
	{URL: "https://alpha.example/source", Title: "Alpha", StartIndex: 41, EndIndex: 55},
}

// resultLine is a line of results.jsonl.
type resultLine struct {
	Key      *string         `json:"key"`
	Response json.RawMessage `json:"response"`
	Error    json.RawMessage `json:"error"`
}

// resultLines parses results.jsonl, checking that every line is one
// {"key", "response"|"error"} object, and counts the lines and errors.
func resultLines(t testing.TB, data []byte) (total, failed int64) {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Error("results.jsonl does not end with a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l resultLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d is not a results line: %v: %.200s", total+1, err, sc.Bytes())
		}
		if l.Key == nil || *l.Key == "" || (l.Response == nil) == (l.Error == nil) {
			t.Fatalf("line %d needs a key and exactly one of response and error: %.200s", total+1, sc.Bytes())
		}
		total++
		if l.Error != nil {
			failed++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total, failed
}

// wantCounts returns the request counts a batch built on f reports.
func wantCounts(t testing.TB, f geminisim.ResultsFile) *event.RequestCounts {
	t.Helper()
	if f.Size == 0 {
		f.Size = geminisim.DefaultResultsSize
	}
	total, failed, err := f.Lines()
	if err != nil {
		t.Fatal(err)
	}
	return &event.RequestCounts{Requests: total, Succeeded: total - failed, Failed: failed}
}

func TestMaterialize_storesFinishedJobs(t *testing.T) {
	t.Parallel()
	resultsFile := geminisim.ResultsFile{Size: 3<<20 + 517, FailureRatio: 0.1, Seed: 1}
	inlined := geminisim.ResultsFile{Size: 200 << 10, LineSize: 512, FailureRatio: 0.25, Seed: 2}
	video := geminisim.VideoFile{Size: 1<<20 + 3, Seed: 9}
	tests := []struct {
		name       string
		sim        geminisim.Options
		opts       materializer.Options
		wantPrefix string // of the job folder
		run        func(t *testing.T, sim *geminisim.Server) job
		state      event.State
		objects    []string // in the job folder, manifest excluded, sorted
		counts     *event.RequestCounts
		check      func(t *testing.T, f *fixture, j job, folder string)
	}{
		{
			name: "batch_results_file",
			run: func(t *testing.T, sim *geminisim.Server) job {
				return finishedBatch(t, sim, geminisim.BatchSpec{Results: resultsFile})
			},
			state:   event.StateSucceeded,
			objects: []string{materializer.ResultsName},
			counts:  wantCounts(t, resultsFile),
			check: func(t *testing.T, f *fixture, j job, folder string) {
				data := f.read(folder + materializer.ResultsName)
				obj := f.stat(folder + materializer.ResultsName)
				checkContent(t, data, obj, digest(t, f.sim, j.n.Data.OutputFileURI))
				if obj.ContentType != "application/jsonl" {
					t.Errorf("results.jsonl content type = %q, want application/jsonl", obj.ContentType)
				}
				total, failed := resultLines(t, data)
				if want := wantCounts(t, resultsFile); total != want.Requests || failed != want.Failed || failed == 0 {
					t.Errorf("results.jsonl has %d lines, %d errors; want %d, %d (and some errors)", total, failed, want.Requests, want.Failed)
				}
			},
		},
		{
			name: "batch_inlined_responses",
			run: func(t *testing.T, sim *geminisim.Server) job {
				return finishedBatch(t, sim, geminisim.BatchSpec{Results: inlined, Inline: true})
			},
			state:   event.StateSucceeded,
			objects: []string{materializer.ResultsName},
			counts:  wantCounts(t, inlined),
			check: func(t *testing.T, f *fixture, _ job, folder string) {
				total, failed := resultLines(t, f.read(folder+materializer.ResultsName))
				if want := wantCounts(t, inlined); total != want.Requests || failed != want.Failed || failed == 0 {
					t.Errorf("results.jsonl has %d lines, %d errors; want %d, %d (and some errors)", total, failed, want.Requests, want.Failed)
				}
				if n := f.sim.Requests(geminisim.RouteDownload); n != 0 {
					t.Errorf("inlined responses made %d downloads, want 0", n)
				}
			},
		},
		{
			// An embedding batch's inline results, under
			// inlinedEmbedContentResponses, are stored and counted alike.
			name: "batch_inlined_embeddings",
			run: func(t *testing.T, sim *geminisim.Server) job {
				return finishedBatch(t, sim, geminisim.BatchSpec{Results: inlined, Inline: true, Embeddings: true})
			},
			state:   event.StateSucceeded,
			objects: []string{materializer.ResultsName},
			counts:  wantCounts(t, inlined),
			check: func(t *testing.T, f *fixture, _ job, folder string) {
				data := f.read(folder + materializer.ResultsName)
				total, failed := resultLines(t, data)
				if want := wantCounts(t, inlined); total != want.Requests || failed != want.Failed || failed == 0 {
					t.Errorf("results.jsonl has %d lines, %d errors; want %d, %d (and some errors)", total, failed, want.Requests, want.Failed)
				}
				if n := bytes.Count(data, []byte(`"response":{"embedding":{"values":[`)); int64(n) != total-failed {
					t.Errorf("results.jsonl has %d embeddings, want %d", n, total-failed)
				}
			},
		},
		{
			// The guide's JOB_STATE_* spelling and bare ids in webhooks.
			name:    "batch_guide_states_bare_ids",
			sim:     geminisim.Options{StateStyle: geminisim.StateStyleGuide, BareEventIDs: true},
			run:     func(t *testing.T, sim *geminisim.Server) job { return finishedBatch(t, sim, geminisim.BatchSpec{}) },
			state:   event.StateSucceeded,
			objects: []string{materializer.ResultsName},
			counts:  wantCounts(t, geminisim.ResultsFile{}),
			check: func(t *testing.T, f *fixture, j job, folder string) {
				if strings.Contains(j.n.Data.ID, "/") {
					t.Fatalf("the notification names %q, want a bare id", j.n.Data.ID)
				}
				checkContent(t, f.read(folder+materializer.ResultsName), f.stat(folder+materializer.ResultsName),
					digest(t, f.sim, j.n.Data.OutputFileURI))
			},
		},
		{
			name:       "custom_prefix",
			opts:       materializer.Options{Prefix: "/exports/gemini-results/"},
			wantPrefix: "exports/gemini-results/",
			run:        func(t *testing.T, sim *geminisim.Server) job { return finishedBatch(t, sim, geminisim.BatchSpec{}) },
			state:      event.StateSucceeded,
			objects:    []string{materializer.ResultsName},
			counts:     wantCounts(t, geminisim.ResultsFile{}),
		},
		{
			name: "interaction_completed",
			run: func(t *testing.T, sim *geminisim.Server) job {
				return finishedInteraction(t, sim, geminisim.InteractionSpec{Report: citedReport, Citations: reportCitations})
			},
			state:   event.StateCompleted,
			objects: []string{materializer.CitationsName, materializer.InteractionName, materializer.ReportName},
			check: func(t *testing.T, f *fixture, j job, folder string) {
				md := string(f.read(folder + materializer.ReportName))
				for _, want := range []string{"[[1]](https://alpha.example/source)", "[[2]](https://beta.example/source)", "Gamma is last."} {
					if !strings.Contains(md, want) {
						t.Errorf("report.md lacks %q:\n%s", want, md)
					}
				}
				if strings.Contains(md, "[[3]]") {
					t.Errorf("report.md numbers a source twice:\n%s", md)
				}
				var sources []report.Source
				if err := json.Unmarshal(f.read(folder+materializer.CitationsName), &sources); err != nil {
					t.Fatalf("citations.json: %v", err)
				}
				// One entry per source, with every span that cites it.
				got := make(map[string]int)
				for i, s := range sources {
					got[s.URL] = len(s.Spans)
					if s.N != i+1 {
						t.Errorf("source %+v is numbered %d, want %d", s, s.N, i+1)
					}
				}
				want := map[string]int{"https://alpha.example/source": 2, "https://beta.example/source": 1}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("citations.json spans per URL (-want +got):\n%s", diff)
				}
				raw := apiGet(t, f.url, "/v1beta/interactions/"+j.n.Data.ID)
				if got := f.read(folder + materializer.InteractionName); !bytes.Equal(got, raw) {
					t.Errorf("interaction.json differs from the API's body:\n got %.300s\nwant %.300s", got, raw)
				}
			},
		},
		{
			name: "interaction_with_deep_research_markup",
			run: func(t *testing.T, sim *geminisim.Server) job {
				text, citations := geminisim.CitedReport()
				return finishedInteraction(t, sim, geminisim.InteractionSpec{Report: text, Citations: citations})
			},
			state:   event.StateCompleted,
			objects: []string{materializer.CitationsName, materializer.InteractionName, materializer.ReportName},
			check: func(t *testing.T, f *fixture, j job, folder string) {
				md := string(f.read(folder + materializer.ReportName))
				if strings.Contains(md, "[cite:") || strings.Contains(md, "**Sources:**") || !strings.Contains(md, "1. [ai.google.dev](") {
					t.Errorf("report.md keeps the model's markup or lacks the host-name title:\n%s", md)
				}
				raw := apiGet(t, f.url, "/v1beta/interactions/"+j.n.Data.ID)
				if got := f.read(folder + materializer.InteractionName); !bytes.Equal(got, raw) || !bytes.Contains(got, []byte("[cite: 1, 2]")) {
					t.Errorf("interaction.json differs from the API's body:\n got %.300s\nwant %.300s", got, raw)
				}
			},
		},
		{
			name: "video_generated",
			run: func(t *testing.T, sim *geminisim.Server) job {
				return finishedVideo(t, sim, geminisim.VideoSpec{Video: video})
			},
			state:   event.StateGenerated,
			objects: []string{"video-1.mp4"},
			check: func(t *testing.T, f *fixture, j job, folder string) {
				obj := f.stat(folder + "video-1.mp4")
				checkContent(t, f.read(folder+"video-1.mp4"), obj, digest(t, f.sim, j.n.Data.FileName))
				if obj.ContentType != "video/mp4" {
					t.Errorf("video content type = %q, want video/mp4", obj.ContentType)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{sim: tc.sim, opts: tc.opts})
			j := tc.run(t, f.sim)
			webhookID := newWebhookID()
			ev := completionEvent(t, j.n, webhookID)
			prefix := tc.wantPrefix
			if prefix == "" {
				prefix = "gemini/"
			}
			folder := prefix + j.folder

			res := f.mustMaterialize(ev, materializer.Stored)
			if want := "gs://" + testBucket + "/" + folder; res.Folder != want {
				t.Errorf("Folder = %q, want %q", res.Folder, want)
			}
			var names []string
			for _, o := range tc.objects {
				names = append(names, folder+o)
			}
			all := append(slices.Clone(names), folder+materializer.ManifestName)

			// The results event.
			got := f.onlyResult()
			if diff := cmp.Diff(res.Event, got); diff != "" {
				t.Errorf("Result.Event differs from the published event (-returned +published):\n%s", diff)
			}
			var size int64
			for _, o := range storedObjects(t, f.store, testBucket, all...) {
				size += o.Size
			}
			want := &event.Results{
				SpecVersion: event.SpecVersion, ID: event.ResultsIDPrefix + ev.ID, Type: event.ResultsTypeStored,
				Source: event.ResultsSource, Subject: ev.Data.Resource, DataContentType: event.DataContentType,
				DataSchema: event.ResultsSchemaURI,
				Data: event.ResultsData{
					SchemaVersion: event.ResultsSchemaVersion, Kind: ev.Data.Kind, Resource: ev.Data.Resource,
					State: tc.state, SourceEventID: ev.ID, Bucket: testBucket, Prefix: res.Folder,
					Manifest: res.Folder + materializer.ManifestName,
					Objects:  storedObjects(t, f.store, testBucket, all...), Counts: tc.counts, Bytes: size,
				},
			}
			ignore := cmpopts.IgnoreFields(event.Results{}, "Time")
			if diff := cmp.Diff(want, got, ignore, cmpopts.IgnoreFields(event.ResultsData{}, "Timings")); diff != "" {
				t.Errorf("results event (-want +got):\n%s", diff)
			}
			// Video operations report no completion time.
			if tm := got.Data.Timings; tm.StoredAt == nil || !tm.StoredAt.Equal(got.Time) || !tm.EventReceivedAt.Equal(ev.Data.Delivery.ReceivedAt) ||
				tm.StartedAt.After(got.Time) || (tm.JobCompletedAt == nil) != (ev.Data.Kind == event.KindVideo) {
				t.Errorf("timings %+v are inconsistent with the event time %v and receive time %v", tm, got.Time, ev.Data.Delivery.ReceivedAt)
			}

			// The manifest.
			man := manifest(t, f.read(folder+materializer.ManifestName))
			wantMan := materializer.Manifest{
				SchemaVersion: "1", Kind: ev.Data.Kind, Resource: ev.Data.Resource, State: tc.state, SourceEventID: ev.ID,
				Objects: storedObjects(t, f.store, testBucket, names...), Counts: tc.counts,
				Bytes: size - f.stat(folder+materializer.ManifestName).Size,
			}
			if diff := cmp.Diff(wantMan, man, cmpopts.IgnoreFields(materializer.Manifest{}, "Timings"), cmpopts.EquateEmpty(),
				cmpopts.SortSlices(func(a, b event.StoredObject) bool { return a.Name < b.Name })); diff != "" {
				t.Errorf("manifest.json (-want +got):\n%s", diff)
			}
			if man.Timings.StoredAt == nil {
				t.Error("manifest.json has no stored_at")
			}

			// The record of the announcement, and nothing else written.
			if got, want := f.read(folder+announcedName), f.pub.Messages()[0].Data; !bytes.Equal(got, want) {
				t.Errorf("%s = %s, want the published event %s", announcedName, got, want)
			}
			wantCreated := append(all, folder+announcedName)
			if diff := cmp.Diff(wantCreated, f.store.Created(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("objects written (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, f, j, folder)
			}
		})
	}
}

func TestMaterialize_jobEndedWithoutResults(t *testing.T) {
	t.Parallel()
	batch := func(end func(*geminisim.Server, string) (event.Payload, error)) func(*testing.T, *geminisim.Server) job {
		return func(t *testing.T, sim *geminisim.Server) job {
			name, err := sim.CreateBatch(geminisim.BatchSpec{})
			if err != nil {
				t.Fatal(err)
			}
			n, err := end(sim, name)
			if err != nil {
				t.Fatal(err)
			}
			return job{n: n, folder: "batch/" + path.Base(name) + "/"}
		}
	}
	interaction := func(end func(*geminisim.Server, string) (event.Payload, error)) func(*testing.T, *geminisim.Server) job {
		return func(t *testing.T, sim *geminisim.Server) job {
			id, err := sim.CreateInteraction(geminisim.InteractionSpec{})
			if err != nil {
				t.Fatal(err)
			}
			n, err := end(sim, id)
			if err != nil {
				t.Fatal(err)
			}
			return job{n: n, folder: "interaction/" + id + "/"}
		}
	}
	lines := wantCounts(t, geminisim.ResultsFile{}).Requests
	tests := []struct {
		name    string
		run     func(*testing.T, *geminisim.Server) job
		state   event.State
		failure event.Failure // Message "" accepts any message
		counts  *event.RequestCounts
	}{
		{
			name: "batch_failed",
			run: batch(func(s *geminisim.Server, name string) (event.Payload, error) {
				return s.FailBatch(name, geminisim.JobError{Code: 13, Message: "the batch hit an internal error"})
			}),
			state:   event.StateFailed,
			failure: event.Failure{Code: "batch_failed_13", Message: "the batch hit an internal error", Permanent: true},
			counts:  &event.RequestCounts{Requests: lines, Failed: lines},
		},
		{
			name:    "batch_cancelled",
			run:     batch((*geminisim.Server).CancelBatch),
			state:   event.StateCancelled,
			failure: event.Failure{Code: "batch_cancelled_1", Message: "The batch was cancelled.", Permanent: true},
			counts:  &event.RequestCounts{Requests: lines},
		},
		{
			name:    "batch_expired",
			run:     batch((*geminisim.Server).ExpireBatch),
			state:   event.StateExpired,
			failure: event.Failure{Code: "batch_expired_4", Message: "The batch expired before it was processed.", Permanent: true},
			counts:  &event.RequestCounts{Requests: lines},
		},
		{
			name: "interaction_failed",
			run: interaction(func(s *geminisim.Server, id string) (event.Payload, error) {
				return s.FailInteraction(id, "RESOURCE_EXHAUSTED", "the research budget ran out")
			}),
			state:   event.StateFailed,
			failure: event.Failure{Code: "interaction_failed", Message: "the research budget ran out", Permanent: true},
		},
		{
			name:    "interaction_cancelled",
			run:     interaction((*geminisim.Server).CancelInteraction),
			state:   event.StateCancelled,
			failure: event.Failure{Code: "interaction_cancelled", Permanent: true},
		},
		{
			name:    "interaction_requires_action",
			run:     interaction((*geminisim.Server).RequireAction),
			state:   event.StateRequiresAction,
			failure: event.Failure{Code: "interaction_requires_action", Permanent: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			j := tc.run(t, f.sim)
			ev := completionEvent(t, j.n, newWebhookID())
			folder := "gemini/" + j.folder

			res := f.mustMaterialize(ev, materializer.Failed)
			got := f.onlyResult()
			if res.Event == nil || res.Event.ID != got.ID {
				t.Errorf("Result.Event = %+v, want the published event %s", res.Event, got.ID)
			}
			ignoreMessage := cmp.Options{}
			if tc.failure.Message == "" {
				ignoreMessage = cmp.Options{cmpopts.IgnoreFields(event.Failure{}, "Message")}
			}
			if got.Type != event.ResultsTypeFailed || got.Data.State != tc.state {
				t.Errorf("published %s with state %q, want %s with %q", got.Type, got.Data.State, event.ResultsTypeFailed, tc.state)
			}
			if got.Data.Error == nil || got.Data.Error.Message == "" {
				t.Fatalf("results.failed error = %+v, want a failure with a message", got.Data.Error)
			}
			if diff := cmp.Diff(tc.failure, *got.Data.Error, ignoreMessage); diff != "" {
				t.Errorf("results.failed error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.counts, got.Data.Counts); diff != "" {
				t.Errorf("results.failed counts (-want +got):\n%s", diff)
			}
			manifestName := folder + materializer.ManifestName
			if diff := cmp.Diff(storedObjects(t, f.store, testBucket, manifestName), got.Data.Objects); diff != "" {
				t.Errorf("results.failed objects (-want +got):\n%s", diff)
			}
			if got.Data.Manifest != "gs://"+testBucket+"/"+manifestName {
				t.Errorf("results.failed manifest = %q", got.Data.Manifest)
			}

			man := manifest(t, f.read(manifestName))
			if man.Error == nil || len(man.Objects) != 0 || man.Bytes != 0 || man.State != tc.state || man.Timings.StoredAt != nil {
				t.Errorf("manifest = %+v, want an error, no objects, state %q and no stored_at", man, tc.state)
			} else if diff := cmp.Diff(got.Data.Error, man.Error); diff != "" {
				t.Errorf("manifest error differs from the event's (-event +manifest):\n%s", diff)
			}
			f.absent(folder + materializer.ResultsName)
			f.absent(folder + materializer.ReportName)
			if diff := cmp.Diff([]string{manifestName, folder + announcedName}, f.store.Created()); diff != "" {
				t.Errorf("objects written (-want +got):\n%s", diff)
			}
			if n := f.sim.Requests(geminisim.RouteDownload); n != 0 {
				t.Errorf("made %d downloads for a job without results", n)
			}
		})
	}
}

func TestMaterialize_redeliveryIsRedundant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(*testing.T, *geminisim.Server) job
		want materializer.Outcome
	}{
		{"batch_results_file", func(t *testing.T, s *geminisim.Server) job {
			return finishedBatch(t, s, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, FailureRatio: 0.1}})
		}, materializer.Stored},
		{"interaction_completed", func(t *testing.T, s *geminisim.Server) job {
			return finishedInteraction(t, s, geminisim.InteractionSpec{})
		}, materializer.Stored},
		{"video_generated", func(t *testing.T, s *geminisim.Server) job {
			return finishedVideo(t, s, geminisim.VideoSpec{})
		}, materializer.Stored},
		{"unknown_job", func(*testing.T, *geminisim.Server) job {
			return job{n: notification(event.TypeBatchSucceeded, "batches/missing"), folder: "batch/missing/"}
		}, materializer.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			j := tc.run(t, f.sim)
			webhookID := newWebhookID()
			first := f.mustMaterialize(completionEvent(t, j.n, webhookID), tc.want)
			created := f.store.Created()
			var before []blob.Object
			for _, name := range created {
				before = append(before, f.stat(name))
			}
			requests := f.sim.Requests(geminisim.AnyRoute)

			again := f.mustMaterialize(completionEvent(t, j.n, webhookID), materializer.Redundant)
			if again.Folder != first.Folder || again.Event != nil {
				t.Errorf("redelivery Result = %+v, want folder %q and no event", again, first.Folder)
			}
			if n := len(f.pub.Messages()); n != 1 {
				t.Errorf("published %d results events in all, want 1", n)
			}
			if n := f.sim.Requests(geminisim.AnyRoute); n != requests {
				t.Errorf("the redelivery made %d API requests, want none", n-requests)
			}
			if diff := cmp.Diff(created, f.store.Created()); diff != "" {
				t.Errorf("the redelivery wrote objects (-before +after):\n%s", diff)
			}
			for i, name := range created {
				if diff := cmp.Diff(before[i], f.stat(name)); diff != "" {
					t.Errorf("%s changed (-before +after):\n%s", name, diff)
				}
			}
		})
	}
}

func TestMaterialize_apiFaults(t *testing.T) {
	t.Parallel()
	// The client makes 4 attempts per request (newClient).
	tests := []struct {
		name     string
		route    geminisim.Route
		status   int
		failures int
		// transient: the faults outlast the client's retries, so the first
		// call fails and the redelivery succeeds.
		transient bool
	}{
		{name: "batch_429_then_success", route: geminisim.RouteBatches, status: 429, failures: 2},
		{name: "batch_503_then_success", route: geminisim.RouteBatches, status: 503, failures: 3},
		{name: "download_429_then_success", route: geminisim.RouteDownload, status: 429, failures: 2},
		{name: "download_500_then_success", route: geminisim.RouteDownload, status: 500, failures: 3},
		{name: "batch_503_outlasts_retries", route: geminisim.RouteBatches, status: 503, failures: 4, transient: true},
		{name: "download_429_outlasts_retries", route: geminisim.RouteDownload, status: 429, failures: 5, transient: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			spec := geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1<<20 + 1, FailureRatio: 0.05, Seed: 3}}
			j := finishedBatch(t, f.sim, spec)
			ev := completionEvent(t, j.n, newWebhookID())
			if err := f.sim.FailNext(tc.route, tc.failures, tc.status); err != nil {
				t.Fatal(err)
			}

			res, err := f.materialize(ev)
			if tc.transient {
				var apiErr *gemini.APIError
				if err == nil || !errors.As(err, &apiErr) || apiErr.Status != tc.status || !gemini.IsTransient(err) {
					t.Fatalf("Materialize() = %+v, %v; want a transient API error with status %d", res, err, tc.status)
				}
				if len(f.pub.Messages()) != 0 || len(f.store.Created()) != 0 {
					t.Fatalf("a failed attempt published %d events and wrote %v", len(f.pub.Messages()), f.store.Created())
				}
				res, err = f.materialize(ev)
			}
			if err != nil || res.Outcome != materializer.Stored {
				t.Fatalf("Materialize() = %+v, %v; want stored", res, err)
			}
			// Every fault was met, and then exactly one request succeeded.
			if got, want := f.sim.Requests(tc.route), int64(tc.failures)+1; got != want {
				t.Errorf("route %s got %d requests, want %d", tc.route, got, want)
			}
			folder := "gemini/" + j.folder
			checkContent(t, f.read(folder+materializer.ResultsName), f.stat(folder+materializer.ResultsName),
				digest(t, f.sim, j.n.Data.OutputFileURI))
			if r := f.onlyResult(); r.Type != event.ResultsTypeStored {
				t.Errorf("published %s, want %s", r.Type, event.ResultsTypeStored)
			}
		})
	}
}

func TestMaterialize_truncatedDownload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		maxResumes int
		// wantDownloads counts the download requests of the first call.
		wantDownloads int64
		transient     bool
	}{
		// The client resumes with a Range request.
		{name: "resumed", wantDownloads: 2},
		// Without resuming, the attempt fails and leaves no object behind.
		{name: "not_resumable", maxResumes: -1, wantDownloads: 1, transient: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{maxResumes: tc.maxResumes})
			j := finishedBatch(t, f.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 3 << 20, Seed: 4}})
			ev := completionEvent(t, j.n, newWebhookID())
			if err := f.sim.TruncateNext(1, 1<<20); err != nil {
				t.Fatal(err)
			}
			folder := "gemini/" + j.folder

			res, err := f.materialize(ev)
			if n := f.sim.Requests(geminisim.RouteDownload); n != tc.wantDownloads {
				t.Errorf("first attempt made %d download requests, want %d", n, tc.wantDownloads)
			}
			if tc.transient {
				if err == nil || !gemini.IsTransient(err) {
					t.Fatalf("Materialize() = %+v, %v; want a transient error", res, err)
				}
				f.absent(folder + materializer.ResultsName)
				if len(f.pub.Messages()) != 0 {
					t.Fatal("a failed attempt published an event")
				}
				res, err = f.materialize(ev)
			}
			if err != nil || res.Outcome != materializer.Stored {
				t.Fatalf("Materialize() = %+v, %v; want stored", res, err)
			}
			checkContent(t, f.read(folder+materializer.ResultsName), f.stat(folder+materializer.ResultsName),
				digest(t, f.sim, j.n.Data.OutputFileURI))
			if n := slices.Index(f.store.Created(), folder+materializer.ResultsName); n < 0 || len(f.results()) != 1 {
				t.Errorf("results.jsonl written: %v; events: %d; want one of each", n >= 0, len(f.results()))
			}
		})
	}
}

func TestMaterialize_unknownJobFailsOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, id, folder string
	}{
		{"batch", event.TypeBatchSucceeded, "batches/missing-batch", "batch/missing-batch/"},
		{"interaction", event.TypeInteractionCompleted, "missing-interaction", "interaction/missing-interaction/"},
		{"video", event.TypeVideoGenerated, "models/veo-3.0-generate-001/operations/missing-op", "video/missing-op/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			ev := completionEvent(t, notification(tc.typ, tc.id), newWebhookID())

			res, err := f.materialize(ev)
			if err != nil || res.Outcome != materializer.Failed || res.Event == nil {
				t.Fatalf("Materialize() = %+v, %v; want an announced failure and no error", res, err)
			}
			got := f.onlyResult()
			want := event.Failure{Code: "gemini_not_found", Permanent: true}
			if got.Type != event.ResultsTypeFailed || got.Data.Error == nil ||
				!cmp.Equal(want, *got.Data.Error, cmpopts.IgnoreFields(event.Failure{}, "Message")) {
				t.Errorf("published %s with error %+v, want %s with %+v", got.Type, got.Data.Error, event.ResultsTypeFailed, want)
			}
			folder := "gemini/" + tc.folder
			man := manifest(t, f.read(folder+materializer.ManifestName))
			if man.Error == nil || man.Error.Code != want.Code || len(man.Objects) != 0 {
				t.Errorf("manifest = %+v, want the failure and no objects", man)
			}
			if strings.Contains(man.Error.Message, testAPIKey) {
				t.Error("the failure message holds the API key")
			}
			requests := f.sim.Requests(geminisim.AnyRoute)
			if requests != 1 {
				t.Errorf("made %d API requests, want 1 (a 404 is not retried)", requests)
			}
			f.mustMaterialize(ev, materializer.Redundant)
			if len(f.pub.Messages()) != 1 || f.sim.Requests(geminisim.AnyRoute) != requests {
				t.Error("the redelivered failure was handled again")
			}
		})
	}
}

func TestMaterialize_invalidIDIsAnnouncedWithoutLocation(t *testing.T) {
	t.Parallel()
	// The events normalize (their ids are safe segments) but the Gemini
	// API's ids have no dots, so no request is made for them.
	tests := []struct {
		name, typ, id string
		kind          event.Kind
	}{
		{"batch", event.TypeBatchSucceeded, "batches/batch.1", event.KindBatch},
		{"interaction", event.TypeInteractionCompleted, "interactions/v1.abc", event.KindInteraction},
		{"video", event.TypeVideoGenerated, "models/veo-3.0-generate-001/operations/op.1", event.KindVideo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			ev := completionEvent(t, notification(tc.typ, tc.id), newWebhookID())

			res, err := f.materialize(ev)
			if err != nil || res.Outcome != materializer.Failed {
				t.Fatalf("Materialize() = %+v, %v; want Failed and no error", res, err)
			}
			got := f.onlyResult()
			if got.Type != event.ResultsTypeFailed || got.Data.Error == nil || got.Data.Error.Code != "invalid_id" || !got.Data.Error.Permanent {
				t.Errorf("published %s with error %+v, want %s with a permanent invalid_id", got.Type, got.Data.Error, event.ResultsTypeFailed)
			}
			if got.Data.Bucket != "" || got.Data.Prefix != "" || got.Data.Manifest != "" || len(got.Data.Objects) != 0 {
				t.Errorf("the event points at %q %q %q %v, want no location", got.Data.Bucket, got.Data.Prefix, got.Data.Manifest, got.Data.Objects)
			}
			if n := f.sim.Requests(geminisim.AnyRoute); n != 0 {
				t.Errorf("made %d API requests for an invalid id", n)
			}
			created := f.store.Created()
			if len(created) != 2 || !strings.HasPrefix(created[0], "gemini/"+string(tc.kind)+"/invalid-") ||
				path.Base(created[0]) != materializer.ManifestName || path.Dir(created[1]) != path.Dir(created[0]) {
				t.Fatalf("objects written = %v, want a manifest and %s in gemini/%s/invalid-<hash>/", created, announcedName, tc.kind)
			}
			if man := manifest(t, f.read(created[0])); man.Error == nil || man.Error.Code != "invalid_id" || man.Resource != ev.Data.Resource {
				t.Errorf("manifest = %+v, want an invalid_id error for %s", man, ev.Data.Resource)
			}
			f.mustMaterialize(ev, materializer.Redundant)
			if len(f.pub.Messages()) != 1 {
				t.Error("the redelivery announced the failure again")
			}
		})
	}
}

func TestMaterialize_unannounceableEventIsAcknowledged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// resource replaces the normalized resource of a finished batch's
		// event, as a producer that skipped normalization would send it.
		resource func(name string) string
		// stores: the batch is fetched and its results stored, but cannot
		// be announced.
		stores bool
	}{
		{"bare_batch_id", func(name string) string { return path.Base(name) }, true},
		{"path_traversal", func(string) string { return "batches/../../secrets" }, false},
		{"no_resource", func(string) string { return "" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			j := finishedBatch(t, f.sim, geminisim.BatchSpec{})
			ev := completionEvent(t, j.n, newWebhookID())
			ev.Data.Resource = tc.resource(ev.Data.Resource)
			ev = roundTrip(t, ev)

			for attempt := range 2 {
				res, err := f.materialize(ev)
				if err != nil || res.Outcome != materializer.Failed || res.Event != nil {
					t.Fatalf("attempt %d: Materialize() = %+v, %v; want Failed without an event or error", attempt+1, res, err)
				}
			}
			if n := len(f.pub.Messages()); n != 0 {
				t.Errorf("published %d events, want none", n)
			}
			if !strings.Contains(f.logs.String(), "results cannot be announced") {
				t.Errorf("the failure is not logged:\n%s", f.logs.String())
			}
			folder := "gemini/" + j.folder
			if tc.stores {
				checkContent(t, f.read(folder+materializer.ResultsName), f.stat(folder+materializer.ResultsName),
					digest(t, f.sim, j.n.Data.OutputFileURI))
				if n := f.sim.Requests(geminisim.RouteDownload); n != 1 {
					t.Errorf("downloaded %d times, want once", n)
				}
			} else if n := f.sim.Requests(geminisim.AnyRoute); n != 0 {
				t.Errorf("made %d API requests for an invalid resource", n)
			}
			for _, name := range f.store.Created() {
				if path.Base(name) == announcedName {
					t.Errorf("%s was written although nothing was announced", name)
				}
			}
		})
	}
}

func TestMaterialize_unfinishedJobIsRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// start creates a job that has not finished and returns the id a
		// premature notification would carry.
		start func(*testing.T, *geminisim.Server) (typ, id string)
	}{
		{"batch_pending", func(t *testing.T, s *geminisim.Server) (string, string) {
			name, err := s.CreateBatch(geminisim.BatchSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return event.TypeBatchSucceeded, name
		}},
		{"batch_running", func(t *testing.T, s *geminisim.Server) (string, string) {
			name, err := s.CreateBatch(geminisim.BatchSpec{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.StartBatch(name); err != nil {
				t.Fatal(err)
			}
			return event.TypeBatchSucceeded, name
		}},
		{"interaction_in_progress", func(t *testing.T, s *geminisim.Server) (string, string) {
			id, err := s.CreateInteraction(geminisim.InteractionSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return event.TypeInteractionCompleted, id
		}},
		{"video_running", func(t *testing.T, s *geminisim.Server) (string, string) {
			name, err := s.CreateVideo(geminisim.VideoSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return event.TypeVideoGenerated, name
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			typ, id := tc.start(t, f.sim)
			res, err := f.materialize(completionEvent(t, notification(typ, id), newWebhookID()))
			if !errors.Is(err, materializer.ErrNotFinished) || res != nil {
				t.Fatalf("Materialize() = %+v, %v; want an error wrapping ErrNotFinished", res, err)
			}
			if len(f.pub.Messages()) != 0 || len(f.store.Created()) != 0 {
				t.Errorf("an unfinished job published %d events and wrote %v", len(f.pub.Messages()), f.store.Created())
			}
		})
	}
}

func TestMaterialize_publishFailureIsRetriedWithoutDownloading(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	j := finishedBatch(t, f.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, FailureRatio: 0.1}})
	ev := completionEvent(t, j.n, newWebhookID())
	folder := "gemini/" + j.folder
	errDown := errors.New("pubsub is down")
	f.pub.FailNext(errDown)

	res, err := f.materialize(ev)
	if !errors.Is(err, errDown) || res != nil {
		t.Fatalf("Materialize() = %+v, %v; want the publish error", res, err)
	}
	f.absent(folder + announcedName)
	manBefore := f.stat(folder + materializer.ManifestName)

	f.mustMaterialize(ev, materializer.Stored)
	got := f.onlyResult()
	if n := f.sim.Requests(geminisim.RouteDownload); n != 1 {
		t.Errorf("downloaded the results %d times, want once", n)
	}
	if diff := cmp.Diff(manBefore, f.stat(folder+materializer.ManifestName)); diff != "" {
		t.Errorf("the manifest was rewritten (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(storedObjects(t, f.store, testBucket, folder+materializer.ManifestName, folder+materializer.ResultsName), got.Data.Objects); diff != "" {
		t.Errorf("announced objects (-stored +announced):\n%s", diff)
	}
	f.mustMaterialize(ev, materializer.Redundant)
	if n := len(f.pub.Messages()); n != 1 {
		t.Errorf("published %d events in all, want 1", n)
	}
}

func TestMaterialize_unknownKindIsNotAJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ev := completionEvent(t, notification("model.tuned", "tunedModels/abc"), newWebhookID())
	if ev.Data.Kind != event.KindUnknown {
		t.Fatalf("kind = %q, want unknown", ev.Data.Kind)
	}
	res := f.mustMaterialize(ev, materializer.NotAJob)
	if res.Folder != "" || res.Event != nil {
		t.Errorf("Result = %+v, want no folder and no event", res)
	}
	if len(f.pub.Messages()) != 0 || len(f.store.Created()) != 0 || f.sim.Requests(geminisim.AnyRoute) != 0 {
		t.Errorf("published %d, wrote %v, requested %d; want nothing", len(f.pub.Messages()), f.store.Created(), f.sim.Requests(geminisim.AnyRoute))
	}
}

func TestNew_requiresDependencies(t *testing.T) {
	t.Parallel()
	client := newClient(t, "http://127.0.0.1:1", 0)
	store, pub, logger := blob.NewMemory(), &publish.Memory{}, slog.New(slog.DiscardHandler)
	opts := materializer.Options{Bucket: testBucket}
	tests := []struct {
		name    string
		fetcher materializer.Fetcher
		store   materializer.Store
		pub     materializer.Publisher
		logger  *slog.Logger
		opts    materializer.Options
		wantErr bool
	}{
		{name: "complete", fetcher: client, store: store, pub: pub, logger: logger, opts: opts},
		{name: "no_fetcher", store: store, pub: pub, logger: logger, opts: opts, wantErr: true},
		{name: "no_store", fetcher: client, pub: pub, logger: logger, opts: opts, wantErr: true},
		{name: "no_publisher", fetcher: client, store: store, logger: logger, opts: opts, wantErr: true},
		{name: "no_logger", fetcher: client, store: store, pub: pub, opts: opts, wantErr: true},
		{name: "no_bucket", fetcher: client, store: store, pub: pub, logger: logger, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := materializer.New(tc.fetcher, tc.store, tc.pub, memJobs(t), tc.logger, tc.opts)
			if (err != nil) != tc.wantErr || (err == nil) == (m == nil) {
				t.Errorf("New() = %v, %v; want error: %v", m, err, tc.wantErr)
			}
		})
	}
}

func TestMaterialize_concurrentDeliveriesAgree(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	j := finishedBatch(t, f.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 512 << 10, FailureRatio: 0.1}})
	webhookID := newWebhookID()
	const n = 8
	errs := make(chan error, n)
	for range n {
		ev := completionEvent(t, j.n, webhookID)
		go func() {
			res, err := f.m.Materialize(t.Context(), ev)
			if err == nil && res.Outcome != materializer.Stored && res.Outcome != materializer.Redundant {
				err = errors.New("outcome " + string(res.Outcome))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Materialize() error = %v", err)
		}
	}
	// Deliveries racing past the announcement check each announce, with the
	// same event id and the same objects, which subscribers de-duplicate.
	rs := f.results()
	if len(rs) == 0 {
		t.Fatal("nothing was announced")
	}
	for _, r := range rs[1:] {
		if r.ID != rs[0].ID || !cmp.Equal(r.Data.Objects, rs[0].Data.Objects) {
			t.Errorf("announcements disagree: %s %+v and %s %+v", rs[0].ID, rs[0].Data.Objects, r.ID, r.Data.Objects)
		}
	}
	folder := "gemini/" + j.folder
	if diff := cmp.Diff(storedObjects(t, f.store, testBucket, folder+materializer.ManifestName, folder+materializer.ResultsName), rs[0].Data.Objects); diff != "" {
		t.Errorf("announced objects (-stored +announced):\n%s", diff)
	}
	written := f.store.Created()
	slices.Sort(written)
	if want := []string{folder + announcedName, folder + materializer.ManifestName, folder + materializer.ResultsName}; !slices.Equal(written, want) {
		t.Errorf("objects written = %v, want each of %v once", written, want)
	}
}

func TestMaterialize_localDirectory(t *testing.T) {
	t.Parallel()
	sim, url := newSim(t, geminisim.Options{})
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub := &publish.Memory{}
	m, err := materializer.New(newClient(t, url, 0), dir, pub, memJobs(t), slog.New(slog.DiscardHandler), materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []job{
		finishedBatch(t, sim, geminisim.BatchSpec{}),
		finishedInteraction(t, sim, geminisim.InteractionSpec{}),
		finishedVideo(t, sim, geminisim.VideoSpec{}),
	} {
		ev := completionEvent(t, j.n, newWebhookID())
		for _, want := range []materializer.Outcome{materializer.Stored, materializer.Redundant} {
			if res, err := m.Materialize(t.Context(), ev); err != nil || res.Outcome != want {
				t.Fatalf("%s: Materialize() = %+v, %v; want %s", j.folder, res, err, want)
			}
		}
		if _, err := dir.Stat(t.Context(), "gemini/"+j.folder+materializer.ManifestName); err != nil {
			t.Errorf("%s: %v", j.folder, err)
		}
	}
	if n := len(pub.Messages()); n != 3 {
		t.Errorf("published %d events, want 3", n)
	}
}

// TestMaterialize_videoWithoutModel covers video events whose id names no
// model ("abc", "operations/abc"): no documented path serves such an
// operation, so the video is downloaded from the event's URIs, through
// the same allow-list as any download, or the event fails permanently.
func TestMaterialize_videoWithoutModel(t *testing.T) {
	t.Parallel()
	type uris struct{ fileName, outputFileURI, videoURI string }
	cases := []struct {
		name string
		// event returns the URIs the event carries, given the simulator's
		// notification (bare id, output_file_uri, file_name).
		event      func(n event.Payload) uris
		wantSource func(n event.Payload) string // empty: a failure
		wantCode   string
		wantFetch  int64 // requests to the API host
	}{
		{
			name:       "as_the_simulator_sends_it",
			event:      func(n event.Payload) uris { return uris{n.Data.FileName, n.Data.OutputFileURI, ""} },
			wantSource: func(n event.Payload) string { return n.Data.FileName },
			wantFetch:  1,
		},
		{
			name:       "video_uri_only",
			event:      func(n event.Payload) uris { return uris{"", "", n.Data.OutputFileURI} },
			wantSource: func(n event.Payload) string { return strings.TrimSuffix(n.Data.OutputFileURI, "?alt=media") },
			wantFetch:  1,
		},
		{
			name: "unusable_uris_skipped",
			event: func(n event.Payload) uris {
				return uris{"gs://bucket/video.mp4", "https://evil.example/v.mp4", n.Data.OutputFileURI}
			},
			wantSource: func(n event.Payload) string { return strings.TrimSuffix(n.Data.OutputFileURI, "?alt=media") },
			wantFetch:  1,
		},
		{
			name:     "no_uri",
			event:    func(event.Payload) uris { return uris{} },
			wantCode: "video_without_model",
		},
		{
			name:     "no_usable_uri",
			event:    func(event.Payload) uris { return uris{"gs://bucket/v.mp4", "https://evil.example/v.mp4", ""} },
			wantCode: "video_uri_unusable",
		},
	}
	for _, tc := range cases {
		for _, id := range []string{"bare", "short_name"} {
			t.Run(tc.name+"/"+id, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, fixtureOptions{sim: geminisim.Options{BareEventIDs: true}})
				video := geminisim.VideoFile{Size: 100_003, Seed: 9}
				j := finishedVideo(t, f.sim, geminisim.VideoSpec{Video: video})
				n := j.n
				if id == "short_name" {
					n.Data.ID = "operations/" + n.Data.ID
				}
				u := tc.event(j.n)
				n.Data.FileName, n.Data.OutputFileURI, n.Data.VideoURI = u.fileName, u.outputFileURI, u.videoURI
				ev := completionEvent(t, n, newWebhookID())
				if ev.Data.Resource != "operations/"+path.Base(j.folder) {
					t.Fatalf("event resource = %q", ev.Data.Resource)
				}

				res, err := f.materialize(ev)
				if err != nil {
					t.Fatalf("Materialize() error = %v", err)
				}
				folder := "gemini/" + j.folder
				man := manifest(t, f.read(folder+materializer.ManifestName))
				if r := f.onlyResult(); r.Data.Resource != ev.Data.Resource {
					t.Errorf("results event resource = %q, want %q", r.Data.Resource, ev.Data.Resource)
				}
				if n := f.sim.Requests(geminisim.RouteOperations); n != 0 {
					t.Errorf("made %d operation requests, want none", n)
				}
				if got := f.sim.Requests(geminisim.RouteDownload); got != tc.wantFetch {
					t.Errorf("made %d download requests, want %d", got, tc.wantFetch)
				}
				if tc.wantCode != "" {
					if res.Outcome != materializer.Failed || man.Error == nil || man.Error.Code != tc.wantCode || !man.Error.Permanent {
						t.Fatalf("outcome %s, manifest error %+v; want a permanent %s", res.Outcome, man.Error, tc.wantCode)
					}
					if man.Source != "" || len(man.Objects) != 0 {
						t.Errorf("manifest source %q, %d objects; want none", man.Source, len(man.Objects))
					}
					return
				}
				if res.Outcome != materializer.Stored {
					t.Fatalf("outcome %s, want stored; logs:\n%s", res.Outcome, f.logs.String())
				}
				name := folder + "video-1.mp4"
				want, err := geminisim.DigestOf(video)
				if err != nil {
					t.Fatal(err)
				}
				checkContent(t, f.read(name), f.stat(name), want)
				if man.Resource != ev.Data.Resource || man.Source != tc.wantSource(j.n) || len(man.Objects) != 1 {
					t.Errorf("manifest resource %q, source %q, %d objects; want %q, %q, 1",
						man.Resource, man.Source, len(man.Objects), ev.Data.Resource, tc.wantSource(j.n))
				}
			})
		}
	}
}

// TestMaterialize_downloadHostRefused checks that a download redirected to
// a host off the allow-list fails permanently, once, without reaching it.
func TestMaterialize_downloadHostRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	c, err := gemini.New(t.Context(), gemini.Options{BaseURL: f.url, APIKey: testAPIKey, DownloadHosts: []string{"storage.googleapis.com"}})
	if err != nil {
		t.Fatal(err)
	}
	f.m, err = materializer.New(c, f.store, f.pub, memJobs(t), logging.New(f.logs, slog.LevelDebug), materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	j := finishedBatch(t, f.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 10_000}})
	res := f.mustMaterialize(completionEvent(t, j.n, newWebhookID()), materializer.Failed)
	man := manifest(t, f.read("gemini/"+j.folder+materializer.ManifestName))
	if man.Error == nil || man.Error.Code != "download_host_refused" || res.Event == nil {
		t.Errorf("manifest error %+v, want download_host_refused", man.Error)
	}
	if n := f.sim.Requests(geminisim.RouteDownloadHost); n != 0 {
		t.Errorf("the download host received %d requests", n)
	}
}

func TestJobFolder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix string
		kind         event.Kind
		id, want     string
	}{
		{name: "default", kind: event.KindBatch, id: "abc", want: "gemini/batch/abc/"},
		{name: "slash_is_default", prefix: "/", kind: event.KindVideo, id: "op", want: "gemini/video/op/"},
		{name: "custom_trimmed", prefix: "/tenant/results/", kind: event.KindInteraction, id: "v1_x", want: "tenant/results/interaction/v1_x/"},
	}
	for _, tc := range tests {
		if got := materializer.JobFolder(tc.prefix, tc.kind, tc.id); got != tc.want {
			t.Errorf("%s: JobFolder(%q, %q, %q) = %q, want %q", tc.name, tc.prefix, tc.kind, tc.id, got, tc.want)
		}
	}
}
