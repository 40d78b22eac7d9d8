package materializer_test

import (
	"log/slog"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

// testChunkSize keeps uploads multi-chunk with small files.
const testChunkSize = 256 << 10

// startFakeGCS runs an in-process fake-gcs-server until the test ends.
func startFakeGCS(t testing.TB) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatalf("starting fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// gcsClient returns a storage client for the fake, configured as a
// deployment points the client at an emulator. Reads use the JSON API
// because the fake serves XML API reads only on its public host name.
func gcsClient(t testing.TB, srv *fakestorage.Server) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.URL()+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMaterialize_cloudStorage(t *testing.T) {
	t.Parallel()
	srv := startFakeGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket})
	client := gcsClient(t, srv)
	store, err := blob.NewGCS(client, testBucket, blob.GCSOptions{ChunkSize: testChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	sim, url := newSim(t, geminisim.Options{})
	pub := &publish.Memory{}
	logs := &testenv.SyncBuffer{}
	m, err := materializer.New(newClient(t, url, 0), store, pub, memJobs(t), logging.New(logs, slog.LevelDebug), materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("batch_results_file", func(t *testing.T) {
		t.Parallel()
		j := finishedBatch(t, sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1<<20 + 333, FailureRatio: 0.1, Seed: 5}})
		ev := completionEvent(t, j.n, newWebhookID())
		res, err := m.Materialize(t.Context(), ev)
		if err != nil || res.Outcome != materializer.Stored || res.Event == nil {
			t.Fatalf("Materialize() = %+v, %v; want stored; logs:\n%s", res, err, logs.String())
		}
		folder := "gemini/" + j.folder
		name := folder + materializer.ResultsName
		obj, err := store.Stat(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		checkContent(t, readStore(t, store, name), obj, digest(t, sim, j.n.Data.OutputFileURI))
		attrs, err := client.Bucket(testBucket).Object(name).Attrs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if attrs.ContentType != "application/jsonl" || len(attrs.Metadata) != 0 {
			t.Errorf("object content type %q, metadata %v; want application/jsonl and no metadata", attrs.ContentType, attrs.Metadata)
		}
		var found bool
		for _, o := range res.Event.Data.Objects {
			if o.Name == name {
				found = o.SHA256 == "" && o.Size == obj.Size && o.CRC32C == event.EncodeCRC32C(obj.CRC32C)
			}
		}
		if !found {
			t.Errorf("the event does not list %s as stored: %+v", name, res.Event.Data.Objects)
		}
		again, err := m.Materialize(t.Context(), ev)
		if err != nil || again.Outcome != materializer.Redundant {
			t.Errorf("redelivery: Materialize() = %+v, %v; want redundant", again, err)
		}
	})
}
