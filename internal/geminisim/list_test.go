package geminisim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

func TestSDK_batchesList(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	c := newSDKClient(t, ts)
	// Seven batches in three states; the listing shows the newest first.
	var created []string
	for i := range 7 {
		name, err := sim.CreateBatch(BatchSpec{DisplayName: "b" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, name)
	}
	if _, err := sim.CompleteBatch(created[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.FailBatch(created[4], JobError{Code: 13, Message: "boom"}); err != nil {
		t.Fatal(err)
	}
	newestFirst := make([]string, len(created))
	for i, name := range created {
		newestFirst[len(created)-1-i] = name
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		var pages int
		page, err := c.Batches.List(sdkContext(t), &genai.ListBatchJobsConfig{PageSize: 3})
		for ; err == nil; page, err = page.Next(sdkContext(t)) {
			pages++
			for _, j := range page.Items {
				got = append(got, j.Name)
			}
		}
		if err != genai.ErrPageDone {
			t.Fatalf("List: %v", err)
		}
		if diff := cmp.Diff(newestFirst, got); diff != "" {
			t.Errorf("listed names (-want +got):\n%s", diff)
		}
		if pages != 3 {
			t.Errorf("%d pages of at most 3; want 3", pages)
		}
	})

	t.Run("all_with_states", func(t *testing.T) {
		states := map[string]genai.JobState{}
		for j, err := range c.Batches.All(sdkContext(t)) {
			if err != nil {
				t.Fatalf("All: %v", err)
			}
			states[j.Name] = j.State
		}
		want := map[string]genai.JobState{}
		for _, name := range created {
			want[name] = genai.JobStatePending
		}
		want[created[1]], want[created[4]] = genai.JobStateSucceeded, genai.JobStateFailed
		if diff := cmp.Diff(want, states); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})

	t.Run("new_batch_between_pages_shifts_nothing", func(t *testing.T) {
		page, err := c.Batches.List(sdkContext(t), &genai.ListBatchJobsConfig{PageSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CreateBatch(BatchSpec{}); err != nil {
			t.Fatal(err)
		}
		next, err := page.Next(sdkContext(t))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range append(page.Items, next.Items...) {
			got = append(got, j.Name)
		}
		if diff := cmp.Diff(newestFirst, got); diff != "" {
			t.Errorf("names across a creation (-want +got):\n%s", diff)
		}
	})
}

func TestBatchesList_pageSize(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	for range MaxBatchPageSize + 1 {
		if _, err := sim.CreateBatch(BatchSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, query string
		wantCode    int
		wantLen     int
		wantNext    bool
	}{
		{name: "default", query: "", wantCode: http.StatusOK, wantLen: DefaultBatchPageSize, wantNext: true},
		{name: "zero_is_default", query: "?pageSize=0", wantCode: http.StatusOK, wantLen: DefaultBatchPageSize, wantNext: true},
		{name: "clamped_to_max", query: "?pageSize=5000", wantCode: http.StatusOK, wantLen: MaxBatchPageSize, wantNext: true},
		{name: "snake_case", query: "?page_size=2", wantCode: http.StatusOK, wantLen: 2, wantNext: true},
		{name: "negative", query: "?pageSize=-1", wantCode: http.StatusBadRequest},
		{name: "not_a_number", query: "?pageSize=two", wantCode: http.StatusBadRequest},
		{name: "bad_token", query: "?pageToken=bogus", wantCode: http.StatusBadRequest},
		{name: "filter_refused", query: "?filter=state%3DSUCCEEDED", wantCode: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, http.MethodGet, ts.URL+"/v1beta/batches"+tt.query, "")
			if res.status != tt.wantCode {
				t.Fatalf("status %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			if tt.wantCode != http.StatusOK {
				if e := decodeError(t, res.body); e.Error.Status != "INVALID_ARGUMENT" {
					t.Errorf("error %+v; want INVALID_ARGUMENT", e.Error)
				}
				return
			}
			var page struct {
				Operations    []json.RawMessage `json:"operations"`
				NextPageToken string            `json:"nextPageToken"`
			}
			if err := json.Unmarshal(res.body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Operations) != tt.wantLen || (page.NextPageToken != "") != tt.wantNext {
				t.Errorf("%d operations, next token %q; want %d, next %v", len(page.Operations), page.NextPageToken, tt.wantLen, tt.wantNext)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		_, ts := newTestServer(t, Options{})
		res := do(t, http.MethodGet, ts.URL+"/v1beta/batches", "")
		if res.status != http.StatusOK || string(res.body) != "{}\n" {
			t.Errorf("empty listing: %d %q; want 200 {}", res.status, res.body)
		}
	})
}

func TestKnownModels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		want   string
	}{
		{MethodBatchGenerateContent, DefaultModel},
		{MethodInteractions, DefaultModel},
		{MethodPredictLongRunning, "veo-3.0-generate-001"},
	} {
		if got := KnownModels(tc.method); !slices.Contains(got, tc.want) || !slices.IsSorted(got) {
			t.Errorf("KnownModels(%s) = %v; want it sorted, with %s", tc.method, got, tc.want)
		}
	}
	if got := KnownModels("generateContent"); len(got) != 0 {
		t.Errorf("KnownModels(generateContent) = %v; want none", got)
	}
}
