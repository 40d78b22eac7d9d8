package gemini_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

func TestGetVideoOperation(t *testing.T) {
	t.Parallel()
	video := geminisim.VideoFile{Size: 300_007, Seed: 5}
	cases := []struct {
		name string
		ref  func(name, id string) string
	}{
		{"full_name", func(name, _ string) string { return name }},
		{"api_url", func(name, _ string) string { return "BASE/v1beta/" + name }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{})
			name, err := e.sim.CreateVideo(geminisim.VideoSpec{Video: video})
			if err != nil {
				t.Fatal(err)
			}
			ref := strings.Replace(tc.ref(name, name[strings.LastIndex(name, "/")+1:]), "BASE", e.ts.URL, 1)
			ctx := testContext(t)

			op, err := e.client.GetVideoOperation(ctx, ref)
			if err != nil {
				t.Fatalf("GetVideoOperation (pending): %v", err)
			}
			if op.Name != name || op.Done || op.Videos != nil || op.Error != nil {
				t.Errorf("pending operation = %+v", op)
			}

			if _, err := e.sim.CompleteVideo(name); err != nil {
				t.Fatal(err)
			}
			op, err = e.client.GetVideoOperation(ctx, ref)
			if err != nil {
				t.Fatalf("GetVideoOperation (done): %v", err)
			}
			if op.Name != name || !op.Done || len(op.Videos) != 1 || op.Error != nil {
				t.Fatalf("done operation = %+v", op)
			}

			d, err := e.client.Download(ctx, op.Videos[0])
			if err != nil {
				t.Fatalf("Download(%s): %v", op.Videos[0], err)
			}
			defer d.Body.Close()
			n, sum, err := readDigest(d.Body)
			if err != nil {
				t.Fatal(err)
			}
			want, err := geminisim.DigestOf(video)
			if err != nil {
				t.Fatal(err)
			}
			if n != want.Size || sum != want.SHA256 || d.Size != want.Size || d.ContentType != video.ContentType() {
				t.Errorf("downloaded %d bytes (announced %d, %s), sha256 match %v; want %d bytes of %s",
					n, d.Size, d.ContentType, sum == want.SHA256, want.Size, video.ContentType())
			}
		})
	}
}

func TestGetVideoOperation_wrongModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	name, err := e.sim.CreateVideo(geminisim.VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	other := "models/veo-2.0-generate-001/operations/" + name[strings.LastIndex(name, "/")+1:]
	_, err = e.client.GetVideoOperation(testContext(t), other)
	if err == nil || gemini.IsTransient(err) {
		t.Fatalf("error %v, want a permanent failure", err)
	}
	wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
	if errors.Is(err, gemini.ErrInvalidID) {
		t.Error("a well-formed name was reported as invalid")
	}
	assertNoSecret(t, err)
}

// TestGetVideoOperation_withoutModel checks that a name without its model,
// which has no documented path, is refused before any request.
func TestGetVideoOperation_withoutModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	name, err := e.sim.CreateVideo(geminisim.VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	id := name[strings.LastIndex(name, "/")+1:]
	for _, ref := range []string{id, "operations/" + id, e.ts.URL + "/v1beta/operations/" + id} {
		_, err := e.client.GetVideoOperation(testContext(t), ref)
		if !errors.Is(err, gemini.ErrNoModel) || !errors.Is(err, gemini.ErrInvalidID) || gemini.IsTransient(err) {
			t.Errorf("%s: error %v, want a permanent ErrNoModel", ref, err)
		}
	}
	if n := e.sim.Requests(geminisim.AnyRoute); n != 0 {
		t.Errorf("the simulator received %d requests, want 0", n)
	}
}
