package cli_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/local"
)

// statusOutput is the part of status --json the tests read.
type statusOutput struct {
	Kind        string `json:"kind"`
	ManifestURI string `json:"manifest_uri"`
	Manifest    struct {
		Resource string `json:"resource"`
		State    string `json:"state"`
		Error    *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"manifest"`
	Objects []struct {
		Name     string `json:"name"`
		Size     int64  `json:"size"`
		URI      string `json:"uri"`
		Location string `json:"location"`
		Present  bool   `json:"present"`
	} `json:"objects"`
}

// runDemo drives the local stack's demo and returns its results, whose
// artifacts are under stack.DataDir.
func runDemo(t *testing.T) (*local.Stack, []local.DemoResult) {
	t.Helper()
	stack := startStack(t, nil)
	results, err := stack.Demo(t.Context(), io.Discard)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	return stack, results
}

// filesUnder returns the sizes of the visible files in a job folder.
func filesUnder(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = info.Size()
	}
	return out
}

func TestStatusLocalDirectory(t *testing.T) {
	t.Parallel()
	stack, results := runDemo(t)
	for _, res := range results {
		t.Run(strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(res.Job), func(t *testing.T) {
			r := runCLI(t, nil, "status", res.Resource, "--data", stack.DataDir, "--json")
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0", r.code)
			}
			var got statusOutput
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if got.Manifest.Resource != res.Resource {
				t.Errorf("manifest of %q, want %q", got.Manifest.Resource, res.Resource)
			}
			wantState := "succeeded"
			if res.Event == "results.failed" {
				wantState = "failed"
			}
			if strings.Contains(res.Resource, "interactions/") && wantState == "succeeded" {
				wantState = "completed"
			}
			if strings.Contains(res.Resource, "/operations/") {
				wantState = "generated"
			}
			if got.Manifest.State != wantState {
				t.Errorf("state %q, want %q", got.Manifest.State, wantState)
			}
			// Every object the status lists is the file on disk, and every
			// artifact on disk is listed.
			listed := map[string]int64{}
			for _, o := range got.Objects {
				if !o.Present {
					t.Errorf("%s reported missing", o.Name)
				}
				if want := "file://" + filepath.Join(stack.DataDir, o.Name); o.Location != want {
					t.Errorf("%s located at %q, want %q", o.Name, o.Location, want)
				}
				listed[filepath.Base(o.Name)] = o.Size
			}
			if diff := cmp.Diff(filesUnder(t, res.Folder), listed); diff != "" {
				t.Errorf("objects (-on disk +listed):\n%s", diff)
			}

			// The human form names the state and every object.
			h := runCLI(t, nil, "status", res.Resource, "--data", stack.DataDir)
			if h.code != 0 || !strings.Contains(h.stdout, "state     "+wantState) {
				t.Errorf("readable status: exit %d, lacks the state", h.code)
			}
			for name := range listed {
				if !strings.Contains(h.stdout, name) {
					t.Errorf("readable status lacks %s", name)
				}
			}
		})
	}
}

func TestStatusKindsAndNotFound(t *testing.T) {
	t.Parallel()
	stack, results := runDemo(t)
	var batch, interaction local.DemoResult
	for _, r := range results {
		switch {
		case strings.HasPrefix(r.Resource, "batches/") && r.Event == "results.stored" && batch.Resource == "":
			batch = r
		case strings.HasPrefix(r.Resource, "interactions/"):
			interaction = r
		}
	}
	bareBatch := strings.TrimPrefix(batch.Resource, "batches/")
	bareInteraction := strings.TrimPrefix(interaction.Resource, "interactions/")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantKind string
	}{
		{"bare_batch_id", []string{bareBatch}, 0, "batch"},
		{"bare_interaction_id", []string{bareInteraction}, 0, "interaction"},
		{"explicit_kind", []string{bareInteraction, "--kind", "interaction"}, 0, "interaction"},
		{"wrong_kind", []string{bareInteraction, "--kind", "batch"}, 3, ""},
		{"unknown_job", []string{"batches/doesnotexist"}, 3, ""},
		{"other_prefix", []string{batch.Resource, "--prefix", "elsewhere"}, 3, ""},
		{"conflicting_kind", []string{batch.Resource, "--kind", "video"}, 2, ""},
		{"invalid_kind", []string{bareBatch, "--kind", "file"}, 2, ""},
		{"unrecognized_name", []string{"files/abc"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append([]string{"status", "--data", stack.DataDir, "--json"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit code %d, want %d", r.code, tt.wantCode)
			}
			if tt.wantCode == 3 && !strings.Contains(r.stderr, "no manifest") {
				t.Errorf("stderr does not say what is missing: %s", r.stderr)
			}
			if tt.wantKind != "" {
				var got statusOutput
				if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
					t.Fatal(err)
				}
				if got.Kind != tt.wantKind {
					t.Errorf("kind %q, want %q", got.Kind, tt.wantKind)
				}
			}
		})
	}
	t.Run("no_bucket", func(t *testing.T) {
		t.Parallel()
		if r := runCLI(t, nil, "status", batch.Resource); r.code != 2 {
			t.Errorf("exit code %d, want 2", r.code)
		}
	})
}

func TestStatusCloudStorage(t *testing.T) {
	t.Parallel()
	stack, results := runDemo(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	const bucket = "results-bucket"
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	// Copy the demo's artifacts into the bucket under the same names, as the
	// materializer would have written them.
	err = filepath.WalkDir(stack.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name, err := filepath.Rel(stack.DataDir, path)
		if err != nil {
			return err
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: filepath.ToSlash(name)}, Content: data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"STORAGE_EMULATOR_HOST": srv.URL(), "RESULTS_BUCKET": bucket}

	for _, res := range results {
		r := runCLI(t, env, "status", res.Resource, "--json")
		if r.code != 0 {
			t.Fatalf("%s: exit code %d, want 0", res.Resource, r.code)
		}
		var got statusOutput
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		listed := map[string]int64{}
		for _, o := range got.Objects {
			if !o.Present || !strings.HasPrefix(o.URI, "gs://"+bucket+"/") {
				t.Errorf("%s: present %v at %q, want present at a gs:// URI", o.Name, o.Present, o.URI)
			}
			listed[filepath.Base(o.Name)] = o.Size
		}
		if diff := cmp.Diff(filesUnder(t, res.Folder), listed); diff != "" {
			t.Errorf("%s objects (-copied +listed):\n%s", res.Resource, diff)
		}
	}

	// An artifact deleted from the bucket is reported missing, exit 1.
	var victim string
	for _, res := range results {
		if strings.HasPrefix(res.Resource, "interactions/") {
			victim = res.Resource
		}
	}
	id := strings.TrimPrefix(victim, "interactions/")
	if err := srv.Client().Bucket(bucket).Object("gemini/interaction/" + id + "/report.md").Delete(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, env, "status", victim)
	if r.code != 1 || !strings.Contains(r.stdout, "MISSING") || !strings.Contains(r.stderr, "report.md") {
		t.Errorf("exit code %d; want 1 with report.md reported missing", r.code)
	}
	if r := runCLI(t, env, "status", "batches/nothere"); r.code != 3 {
		t.Errorf("unknown job: exit code %d, want 3", r.code)
	}
}
