package results_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/report"
	"github.com/geminihooks/geminihooks/pkg/results"
)

func TestLines_batches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec geminisim.BatchSpec
	}{
		{"results_file", geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, FailureRatio: 0.1, Seed: 1}}},
		{"results_file_long_lines", geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 2 << 20, LineSize: 300 << 10, FailureRatio: 0.25, Seed: 2}}},
		{"inlined", geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, FailureRatio: 0.2, Seed: 3}, Inline: true}},
		{"embeddings_file", geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, FailureRatio: 0.2, Seed: 4}, Embeddings: true}},
		{"embeddings_inlined", geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, FailureRatio: 0.2, Seed: 5}, Embeddings: true, Inline: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, blob.NewMemory())
			ev := s.batch(tc.spec)
			job := s.open(ev)
			total, failed, err := tc.spec.Results.Lines()
			if err != nil {
				t.Fatal(err)
			}
			lines, errs := drain(t, job)
			if len(errs) > 0 {
				t.Fatalf("Lines: %v", errs)
			}
			if int64(len(lines)) != total {
				t.Fatalf("Lines yielded %d lines, want %d", len(lines), total)
			}
			var gotFailed int64
			for i, l := range lines {
				if want := "request-" + strconv.Itoa(i+1); l.Key != want || l.N != int64(i+1) {
					t.Fatalf("line %d: N %d, key %q; want %d, %q", i+1, l.N, l.Key, i+1, want)
				}
				switch {
				case l.Error != nil:
					gotFailed++
					if l.Error.Code == 0 || l.Error.Message == "" || l.Response != nil || l.Embedding != nil {
						t.Errorf("line %d: error %+v with a response", l.N, l.Error)
					}
				case tc.spec.Embeddings:
					if l.Embedding == nil || l.Embedding.Embedding == nil || len(l.Embedding.Embedding.Values) == 0 || l.Response != nil {
						t.Errorf("line %d: want an embedding, got %s", l.N, l.Raw)
					}
				default:
					if l.Response == nil || l.Response.Text() == "" || l.Response.UsageMetadata == nil || l.Response.ModelVersion == "" || l.Embedding != nil {
						t.Errorf("line %d: want a generation response with text and usage, got %s", l.N, l.Raw)
					}
				}
			}
			if gotFailed != failed || !cmp.Equal(job.Manifest.Counts, ev.Data.Counts) {
				t.Errorf("%d failed lines, manifest counts %+v; want %d failed, the event's %+v", gotFailed, job.Manifest.Counts, failed, ev.Data.Counts)
			}
		})
	}
}

func TestLines_rawIsTheStoredLine(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	ev := s.batch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 32 << 10, FailureRatio: 0.5, Seed: 6}})
	lines, errs := drain(t, s.open(ev))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var joined bytes.Buffer
	for _, l := range lines {
		joined.Write(l.Raw)
		joined.WriteByte('\n')
	}
	if stored := read(t, s.store, s.open(ev).Folder+materializer.ResultsName); !bytes.Equal(joined.Bytes(), stored) {
		t.Error("the lines' Raw, joined, differ from results.jsonl")
	}
}

func TestJob_interaction(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	id, err := s.sim.CreateInteraction(geminisim.InteractionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.sim.CompleteInteraction(id)
	if err != nil {
		t.Fatal(err)
	}
	job := s.open(s.materialize(n))
	ctx := t.Context()

	md, err := job.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := read(t, s.store, job.Folder+materializer.ReportName); !bytes.Equal(md, want) || len(md) == 0 {
		t.Errorf("Report() differs from report.md")
	}
	raw, err := job.Interaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Render(raw)
	if err != nil {
		t.Fatalf("Interaction() is not an interaction: %v", err)
	}
	citations, err := job.Citations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(citations) == 0 || !cmp.Equal(citations, rep.Sources) {
		t.Errorf("Citations() = %+v, want the sources the report renders, %+v", citations, rep.Sources)
	}
	for _, l := range job.Lines(ctx) {
		if !errors.Is(l, results.ErrNotStored) {
			t.Errorf("Lines of an interaction: %v, want ErrNotStored", l)
		}
	}
	if v := job.Videos(); len(v) != 0 {
		t.Errorf("Videos() of an interaction = %v", v)
	}
}

func TestJob_video(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	file := geminisim.VideoFile{Size: 3<<20 + 11, Seed: 7}
	name, err := s.sim.CreateVideo(geminisim.VideoSpec{Video: file})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.sim.CompleteVideo(name)
	if err != nil {
		t.Fatal(err)
	}
	job := s.open(s.materialize(n))
	videos := job.Videos()
	if want := []string{"video-1.mp4"}; !cmp.Equal(videos, want) {
		t.Fatalf("Videos() = %v, want %v", videos, want)
	}
	rc, err := job.Open(t.Context(), videos[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatalf("reading the video: %v", err)
	}
	want, err := geminisim.DigestOf(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), want.SHA256[:]) {
		t.Error("the video read differs from the one generated")
	}
	if _, err := job.Report(t.Context()); !errors.Is(err, results.ErrNotStored) {
		t.Errorf("Report() of a video: %v, want ErrNotStored", err)
	}
}

func TestJob_failedBatch(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	name, err := s.sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.sim.FailBatch(name, geminisim.JobError{Code: 13, Message: "the batch hit an internal error"})
	if err != nil {
		t.Fatal(err)
	}
	ev := s.materialize(n)
	job := s.open(ev)
	if job.Manifest.Error == nil || job.Manifest.State != event.StateFailed {
		t.Fatalf("manifest state %q, error %+v; want failed with the job's error", job.Manifest.State, job.Manifest.Error)
	}
	_, errs := drain(t, job)
	onlyError(t, errs, results.ErrNotStored)
}

func TestReader_openFolderMatchesEvent(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	ev := s.batch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 16 << 10, Seed: 8}})
	byEvent := s.open(ev)
	for _, folder := range []string{byEvent.Folder, byEvent.Folder[:len(byEvent.Folder)-1]} {
		byFolder, err := s.reader(results.Options{}).OpenFolder(t.Context(), folder)
		if err != nil {
			t.Fatalf("OpenFolder(%q): %v", folder, err)
		}
		if byFolder.Folder != byEvent.Folder || !cmp.Equal(byFolder.Manifest, byEvent.Manifest) {
			t.Errorf("OpenFolder(%q) = %s %+v, want %s %+v", folder, byFolder.Folder, byFolder.Manifest, byEvent.Folder, byEvent.Manifest)
		}
	}
	if want := materializer.JobFolder("", event.KindBatch, ev.Data.Resource[len("batches/"):]); byEvent.Folder != want {
		t.Errorf("Folder = %q, want %q", byEvent.Folder, want)
	}
	if _, err := s.reader(results.Options{}).OpenFolder(t.Context(), "gemini/batch/nothing-here/"); !errors.Is(err, results.ErrNotStored) {
		t.Errorf("OpenFolder of an empty folder: %v, want ErrNotStored", err)
	}
}

func TestReader_refusesEvents(t *testing.T) {
	t.Parallel()
	s := newStack(t, blob.NewMemory())
	ev := s.batch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 16 << 10, Seed: 9}})
	tests := []struct {
		name   string
		change func(r *event.Results)
		want   error
	}{
		{"other_bucket", func(r *event.Results) { r.Data.Bucket = "another-bucket" }, results.ErrOtherBucket},
		{"nothing_written", func(r *event.Results) { r.Data.Manifest, r.Data.Objects = "", nil }, results.ErrNotStored},
		{"manifest_unlisted", func(r *event.Results) { r.Data.Objects = slices.Delete(r.Data.Objects, manifestAt(r), manifestAt(r)+1) }, results.ErrInvalidManifest},
		{"manifest_elsewhere", func(r *event.Results) { r.Data.Manifest = "gs://" + testBucket + "/manifest.json" }, results.ErrInvalidManifest},
		{"manifest_listed_with_another_size", func(r *event.Results) { r.Data.Objects[manifestAt(r)].Size++ }, results.ErrCorrupt},
		{"manifest_listed_with_another_crc32c", func(r *event.Results) {
			r.Data.Objects[manifestAt(r)].CRC32C = event.EncodeCRC32C(12345)
		}, results.ErrCorrupt},
		{"another_job", func(r *event.Results) { r.Data.Resource = "batches/another" }, results.ErrInvalidManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			changed := *ev
			changed.Data.Objects = append([]event.StoredObject(nil), ev.Data.Objects...)
			tc.change(&changed)
			if _, err := s.reader(results.Options{}).Open(t.Context(), &changed); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

// manifestAt returns the index of the manifest among r's objects.
func manifestAt(r *event.Results) int {
	return slices.IndexFunc(r.Data.Objects, func(o event.StoredObject) bool { return strings.HasSuffix(r.Data.Manifest, "/"+o.Name) })
}

// TestReader_detectsDamage damages stored objects on disk, as the local
// runner keeps them, and checks that every reader of the object fails with
// ErrCorrupt rather than returning less, more or other bytes.
func TestReader_detectsDamage(t *testing.T) {
	t.Parallel()
	damages := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated_mid_line", func(t *testing.T, path string) { truncate(t, path, -100) }},
		{"truncated_at_a_line_end", func(t *testing.T, path string) {
			b := readFile(t, path)
			last := bytes.LastIndexByte(b[:len(b)-1], '\n')
			writeFile(t, path, b[:last+1])
		}},
		{"emptied", func(t *testing.T, path string) { writeFile(t, path, nil) }},
		{"one_byte_altered", func(t *testing.T, path string) {
			b := readFile(t, path)
			b[len(b)/2] ^= 0x01
			writeFile(t, path, b)
		}},
		{"appended_to", func(t *testing.T, path string) {
			writeFile(t, path, append(readFile(t, path), []byte(`{"key":"extra","error":{"code":13}}`+"\n")...))
		}},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			store, err := blob.NewDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			s := newStack(t, store)
			batch := s.batch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 256 << 10, FailureRatio: 0.1, Seed: 10}})
			id, err := s.sim.CreateInteraction(geminisim.InteractionSpec{})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.sim.CompleteInteraction(id)
			if err != nil {
				t.Fatal(err)
			}
			interaction := s.materialize(n)

			bjob, ijob := s.open(batch), s.open(interaction)
			d.damage(t, filepath.Join(dir, filepath.FromSlash(bjob.Folder+materializer.ResultsName)))
			d.damage(t, filepath.Join(dir, filepath.FromSlash(ijob.Folder+materializer.CitationsName)))

			lines, errs := drain(t, bjob)
			if len(errs) == 0 || !errors.Is(errs[len(errs)-1], results.ErrCorrupt) {
				t.Errorf("Lines after %d lines: errors %v, want the last to wrap ErrCorrupt", len(lines), errs)
			}
			for _, err := range errs[:max(len(errs)-1, 0)] {
				// A damaged line may fail to decode before the end is reached.
				if !errors.Is(err, results.ErrInvalidLine) {
					t.Errorf("Lines: unexpected error before the end: %v", err)
				}
			}
			if _, err := ijob.Citations(t.Context()); !errors.Is(err, results.ErrCorrupt) {
				t.Errorf("Citations: %v, want ErrCorrupt", err)
			}
			if _, err := ijob.Report(t.Context()); err != nil {
				t.Errorf("Report, which is intact: %v", err)
			}
		})
	}
}

func TestReader_cloudStorage(t *testing.T) {
	t.Parallel()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket})
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.URL()+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := blob.NewGCS(client, testBucket, blob.GCSOptions{ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, store)
	spec := geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, FailureRatio: 0.1, Seed: 11}}
	job := s.open(s.batch(spec))
	lines, errs := drain(t, job)
	if total, _, _ := spec.Results.Lines(); len(errs) > 0 || int64(len(lines)) != total {
		t.Fatalf("Lines: %d lines, errors %v; want %d lines", len(lines), errs, total)
	}

	// Replace the object behind the manifest's back.
	name := job.Folder + materializer.ResultsName
	content := read(t, store, name)
	content[10] ^= 0x01
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: testBucket, Name: name}, Content: content})
	_, errs = drain(t, job)
	if len(errs) == 0 || !errors.Is(errs[len(errs)-1], results.ErrCorrupt) {
		t.Errorf("Lines of an altered object: errors %v, want the last to wrap ErrCorrupt", errs)
	}
}

func TestNew_checksItsArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		objects results.Opener
		bucket  string
		opts    results.Options
	}{
		{"no_store", nil, testBucket, results.Options{}},
		{"no_bucket", blob.NewMemory(), "", results.Options{}},
		{"bucket_uri", blob.NewMemory(), "gs://" + testBucket, results.Options{}},
		{"negative_line_size", blob.NewMemory(), testBucket, results.Options{MaxLineSize: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := results.New(tc.objects, tc.bucket, tc.opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func truncate(t *testing.T, path string, by int64) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()+by); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// jsonOf marshals v or fails the test.
func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
