package geminisim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFaults_failNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		route       Route
		status      int
		n           int
		target      Route
		wantRPC     string
		wantRetry   string // Retry-After header
		wantStatus  []int
		wantCounted int64
	}{
		{"rate_limited_twice", RouteBatches, 429, 2, RouteBatches, "RESOURCE_EXHAUSTED", "2", []int{429, 429, 200}, 3},
		{"unavailable_once", RouteDownload, 503, 1, RouteDownload, "UNAVAILABLE", "", []int{503, 200}, 2},
		{"internal_on_any_route", AnyRoute, 500, 1, RouteInteractions, "INTERNAL", "", []int{500, 200}, 2},
		{"rate_limited_interactions", RouteInteractions, 429, 1, RouteInteractions, "RESOURCE_EXHAUSTED", "2", []int{429, 200}, 2},
		{"unavailable_interactions", RouteInteractions, 503, 1, RouteInteractions, "UNAVAILABLE", "", []int{503, 200}, 2},
		{"other_route_unaffected", RouteBatches, 503, 5, RouteInteractions, "", "", []int{200, 200}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{RetryAfter: 1500 * time.Millisecond})
			paths := fixture(t, sim)
			if err := sim.FailNext(tc.route, tc.n, tc.status); err != nil {
				t.Fatal(err)
			}
			// A request with a bad key is rejected before faults apply.
			if resp := get(t, ts.URL+paths[tc.target], "wrong"); resp.status != http.StatusBadRequest {
				t.Fatalf("bad key: status %d", resp.status)
			}
			var statuses []int
			for range tc.wantStatus {
				resp := get(t, ts.URL+paths[tc.target], testAPIKey)
				statuses = append(statuses, resp.status)
				if resp.status == tc.status {
					// Interactions answer in their own format, which has
					// no details.
					wantError(t, tc.target, resp.body, tc.status, tc.wantRPC)
					if got := resp.header.Get("Retry-After"); got != tc.wantRetry {
						t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
					}
					if tc.status == 429 && tc.target != RouteInteractions {
						if e := decodeError(t, resp.body); len(e.Error.Details) != 1 || e.Error.Details[0]["retryDelay"] != tc.wantRetry+"s" {
							t.Errorf("details = %v, want a RetryInfo of %ss", e.Error.Details, tc.wantRetry)
						}
					}
				}
			}
			if diff := cmp.Diff(tc.wantStatus, statuses); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if got := sim.Requests(tc.target); got != tc.wantCounted+1 {
				t.Errorf("Requests(%s) = %d, want %d (the bad-key request included)", tc.target, got, tc.wantCounted+1)
			}
		})
	}
	t.Run("route_before_any", func(t *testing.T) {
		t.Parallel()
		sim, ts := newTestServer(t, Options{})
		paths := fixture(t, sim)
		if err := sim.FailNext(AnyRoute, 1, 500); err != nil {
			t.Fatal(err)
		}
		if err := sim.FailNext(RouteBatches, 1, 503); err != nil {
			t.Fatal(err)
		}
		var got []int
		for range 3 {
			got = append(got, get(t, ts.URL+paths[RouteBatches], testAPIKey).status)
		}
		if diff := cmp.Diff([]int{503, 500, 200}, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		sim, _ := newTestServer(t, Options{})
		for _, err := range []error{
			sim.FailNext("nope", 1, 500),
			sim.FailNext(RouteBatches, 1, 200),
			sim.FailNext(RouteBatches, -1, 500),
			sim.SetDelay("nope", time.Second),
			sim.SetDelay(RouteBatches, -time.Second),
			sim.TruncateNext(-1, 10),
		} {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error = %v, want ErrInvalidSpec", err)
			}
		}
	})
}

func TestFaults_delay(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	paths := fixture(t, sim)
	const d = 300 * time.Millisecond
	if err := sim.SetDelay(RouteBatches, d); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp := get(t, ts.URL+paths[RouteBatches], testAPIKey); resp.status != http.StatusOK {
		t.Fatalf("status %d", resp.status)
	}
	if took := time.Since(start); took < d {
		t.Errorf("delayed request took %v, want at least %v", took, d)
	}

	// A client that gives up does not wait for the delay.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+paths[RouteBatches], nil)
	req.Header.Set("x-goog-api-key", testAPIKey)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Error("request outlived its deadline")
	}

	sim.ResetFaults()
	start = time.Now()
	get(t, ts.URL+paths[RouteBatches], testAPIKey)
	if took := time.Since(start); took >= d {
		t.Errorf("after ResetFaults the request took %v", took)
	}
}

func TestFaults_truncate(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	results := ResultsFile{Size: 2<<20 + 3}
	name, err := sim.AddFile(results)
	if err != nil {
		t.Fatal(err)
	}
	const cut = 100_000
	if err := sim.TruncateNext(1, cut); err != nil {
		t.Fatal(err)
	}
	url := ts.URL + "/download/v1beta/" + name + ":download?alt=media"
	fetch := func(rangeHeader string) ([]byte, int64, error) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Header.Set("x-goog-api-key", testAPIKey)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.ContentLength, err
	}

	part, declared, err := fetch("")
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated download: error %v, want io.ErrUnexpectedEOF", err)
	}
	if declared != results.Size || len(part) != cut {
		t.Errorf("declared %d bytes and sent %d; want %d and %d", declared, len(part), results.Size, cut)
	}
	// The client resumes where it stopped.
	rest, _, err := fetch("bytes=" + strconv.Itoa(len(part)) + "-")
	if err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	whole := readAll(t, results)
	if got := append(part, rest...); string(got) != string(whole) {
		t.Errorf("truncated part + resumed part = %d bytes, differing from the %d generated", len(got), len(whole))
	}
	// Only one download was truncated.
	if again, _, err := fetch(""); err != nil || len(again) != len(whole) {
		t.Errorf("next download: %d bytes, %v", len(again), err)
	}
	if got := sim.Requests(RouteDownload); got != 3 {
		t.Errorf("Requests(RouteDownload) = %d, want 3", got)
	}
}

// TestDownload_boundedMemory streams 256 MiB through the server and checks
// that it was generated on the fly: the process allocates a small fraction
// of it. It is not parallel, so that other tests' allocations do not count.
func TestDownload_boundedMemory(t *testing.T) {
	sim, ts := newTestServer(t, Options{})
	const size = 256 << 20
	name, err := sim.AddFile(ResultsFile{Size: size, FailureRatio: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/download/v1beta/"+name+":download?alt=media", nil)
	req.Header.Set("x-goog-api-key", testAPIKey)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("streamed %d bytes, %v; want %d", n, err, size)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("streamed %d MiB in %v (%.0f MiB/s); allocated %d KiB, heap in use %d KiB",
		size>>20, took, float64(size>>20)/took.Seconds(), allocated>>10, after.HeapInuse>>10)
	if allocated > size/16 {
		t.Errorf("allocated %d bytes while streaming %d: the file is not generated on the fly", allocated, size)
	}
	if after.HeapInuse > before.HeapInuse+32<<20 {
		t.Errorf("heap in use grew from %d to %d bytes", before.HeapInuse, after.HeapInuse)
	}
}

// TestServer_concurrentAccess exercises the job methods and routes from
// many goroutines at once (meaningful under -race).
func TestServer_concurrentAccess(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	done := make(chan error, 16)
	for i := range cap(done) {
		go func() {
			name, err := sim.CreateBatch(BatchSpec{Results: ResultsFile{Size: 2048}})
			if err == nil {
				_ = sim.FailNext(RouteBatches, 1, 503)
				_, err = sim.CompleteBatch(name)
			}
			if err == nil {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/v1beta/"+name, nil)
				req.Header.Set("x-goog-api-key", testAPIKey)
				var resp *http.Response
				if resp, err = client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			if i%8 == 0 {
				_, _ = sim.RotateKey()
			}
			done <- err
		}()
	}
	for range cap(done) {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if got := sim.Requests(RouteBatches); got != int64(cap(done)) {
		t.Errorf("Requests(RouteBatches) = %d, want %d", got, cap(done))
	}
	if !strings.Contains(string(sim.JWKS()), sim.KeyID()) {
		t.Error("the current key is not in the JWKS")
	}
}

// TestFaults_failAfter fails a listing half way: the first page passes,
// the second is refused, and the next request passes again.
func TestFaults_failAfter(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	for range 4 {
		if _, err := sim.CreateBatch(BatchSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.FailAfter(RouteBatchesList, 1, 1, http.StatusTooManyRequests); err != nil {
		t.Fatal(err)
	}
	// An AnyRoute failure waits while the route's failure is pending.
	if err := sim.FailNext(AnyRoute, 1, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for range 3 {
		statuses = append(statuses, do(t, http.MethodGet, ts.URL+"/v1beta/batches?pageSize=2", "").status)
	}
	if want := []int{200, 429, 503}; !cmp.Equal(statuses, want) {
		t.Errorf("statuses %v; want %v", statuses, want)
	}
	for _, bad := range []struct{ after, n, status int }{{-1, 1, 429}, {0, -1, 429}, {0, 1, 200}} {
		if err := sim.FailAfter(RouteBatchesList, bad.after, bad.n, bad.status); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("FailAfter(%v): %v; want ErrInvalidSpec", bad, err)
		}
	}
}
