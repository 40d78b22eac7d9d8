package cli_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/blob"
	capturepkg "github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// writeCaptures records deliveries into a local data directory, as the
// local runner's receiver does, and returns it.
func writeCaptures(t *testing.T, bodies ...string) string {
	t.Helper()
	dir := t.TempDir()
	store, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := capturepkg.NewRecorder(store, capturepkg.Options{
		Limit: 10, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		id := "msg_" + string(rune('a'+i))
		rec.Capture(t.Context(), capturepkg.Delivery{
			Header:   http.Header{"Webhook-Id": {id}, "Webhook-Signature": {"v1,c2ln"}},
			Body:     []byte(b),
			Verified: &signature.Delivery{ID: id, Scheme: signature.SchemeHMAC},
			Verdict:  capturepkg.Verdict{HTTPStatus: 200, Status: "accepted"},
		})
	}
	return dir
}

// fixtures returns the files of dir by name.
func fixtures(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestCapturesPull(t *testing.T) {
	t.Parallel()
	data := writeCaptures(t,
		`{"type":"batch.succeeded","data":{"id":"batches/b1"}}`,
		`{}`,
	)
	out := t.TempDir()

	r := runCLI(t, nil, "captures", "pull", "--data", data, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "2 written, 0 unchanged, 0 conflicting") {
		t.Fatalf("first pull: exit code %d, stdout %q", r.code, r.stdout)
	}
	got := fixtures(t, out)
	var names []string
	for name, content := range got {
		names = append(names, name)
		rec, err := capturepkg.Decode([]byte(content))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(content, "v1,c2ln") || rec.Header.Get("Webhook-Signature") != "" {
			t.Errorf("%s keeps the signature: %s", name, content)
		}
	}
	for _, prefix := range []string{"batch.succeeded-", "no-type-"} {
		found := false
		for _, n := range names {
			found = found || (strings.HasPrefix(n, prefix) && len(n) == len(prefix)+12+len(".json"))
		}
		if !found {
			t.Errorf("no fixture named %s<12 hex>.json among %q", prefix, names)
		}
	}

	// Pulling again changes nothing.
	if r := runCLI(t, nil, "captures", "pull", "--data", data, "--out", out); r.code != 0 || !strings.Contains(r.stdout, "0 written, 2 unchanged") {
		t.Errorf("second pull: exit code %d, stdout %q", r.code, r.stdout)
	}

	// The bucket yields the same fixtures as the directory.
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	const bucket = "results-bucket"
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	for slot := 1; slot <= 2; slot++ {
		name := capturepkg.SlotName(capturepkg.Prefix, slot)
		b, err := os.ReadFile(filepath.Join(data, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: b})
	}
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: "gemini/batch/b1/manifest.json"}, Content: []byte(`{}`)})
	fromBucket := t.TempDir()
	env := map[string]string{"STORAGE_EMULATOR_HOST": srv.URL(), "RESULTS_BUCKET": bucket}
	if r := runCLI(t, env, "captures", "pull", "--out", fromBucket); r.code != 0 {
		t.Fatalf("pull from the bucket: exit code %d", r.code)
	}
	if diff := cmp.Diff(got, fixtures(t, fromBucket)); diff != "" {
		t.Errorf("fixtures from the bucket differ from the directory's (-dir +bucket):\n%s", diff)
	}

	// A different file under a fixture's name is reported, not overwritten.
	victim := filepath.Join(out, names[0])
	if err := os.WriteFile(victim, []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "captures", "pull", "--data", data, "--out", out)
	if r.code != 1 || !strings.Contains(r.stderr, "not overwritten") {
		t.Errorf("pull over an edited fixture: exit code %d, stderr %q; want 1 and a report", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "edited\n" {
		t.Errorf("the edited fixture was overwritten: %q", b)
	}
}

func TestCapturesPullErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "nothing_captured", args: []string{"captures", "pull", "--data", empty, "--out", t.TempDir()}, want: 3},
		{name: "no_bucket", args: []string{"captures", "pull", "--out", t.TempDir()}, want: 2},
		{name: "default_out_outside_repository_root", args: []string{"captures", "pull", "--data", empty}, want: 2},
		{name: "no_subcommand", args: []string{"captures"}, want: 2},
		{name: "unknown_subcommand", args: []string{"captures", "push"}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if r := runCLI(t, nil, tt.args...); r.code != tt.want {
				t.Errorf("exit code %d, want %d", r.code, tt.want)
			}
		})
	}
}
