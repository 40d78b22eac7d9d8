package event

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// storedObject describes an object with the given content the way the
// materializer does with a store that computes every checksum (the local
// runner's directory), with real checksums.
func storedObject(name, contentType string, content []byte) StoredObject {
	md5sum := md5.Sum(content)
	sha := sha256.Sum256(content)
	return StoredObject{
		Name:        name,
		Size:        int64(len(content)),
		CRC32C:      EncodeCRC32C(crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli))),
		MD5:         base64.StdEncoding.EncodeToString(md5sum[:]),
		SHA256:      hex.EncodeToString(sha[:]),
		ContentType: contentType,
	}
}

// gcsObject describes an object the way the materializer does in
// production: Cloud Storage keeps no SHA-256.
func gcsObject(name, contentType string, content []byte) StoredObject {
	o := storedObject(name, contentType, content)
	o.SHA256 = ""
	return o
}

// completionEvent returns the completion event of the example with the
// given name (see exampleCases).
func completionEvent(t testing.TB, name string) *Event {
	t.Helper()
	for _, tc := range exampleCases {
		if tc.name == name {
			return normalizeBody(t, tc.body, tc.meta)
		}
	}
	t.Fatalf("no example named %q", name)
	return nil
}

// resultsExampleCase is a materialization whose results event is committed
// as testdata/results-examples/<name>.json.
type resultsExampleCase struct {
	name string
	// source builds the completion event that the materializer handled.
	source  func(t testing.TB) *Event
	spec    ResultsSpec
	failure *Failure // nil for a stored event
}

func (tc resultsExampleCase) build(t testing.TB) (*Results, error) {
	if tc.failure != nil {
		return NewResultsFailed(tc.source(t), tc.spec, *tc.failure)
	}
	return NewResultsStored(tc.source(t), tc.spec)
}

func fromExample(name string) func(testing.TB) *Event {
	return func(t testing.TB) *Event { return completionEvent(t, name) }
}

var (
	batchResults = []byte(`{"key":"request-1","response":{"candidates":[{"content":{"parts":[{"text":"Paris."}],"role":"model"},"finishReason":"STOP"}]}}` + "\n" +
		`{"key":"request-2","response":{"candidates":[{"content":{"parts":[{"text":"Tokyo."}],"role":"model"},"finishReason":"STOP"}]}}` + "\n")
	// videoBytes stands in for a 2 MiB MP4 file.
	videoBytes = bytes.Repeat([]byte("\x00\x00\x00\x18ftypmp42"), 2<<20/12)
)

// manifest returns stand-in manifest content; the results event only
// carries its checksums.
func manifest(resource string) []byte {
	return []byte(`{"manifest_version":"1","resource":"` + resource + `"}` + "\n")
}

// resultsExampleCases hold one stored event per kind and a permanent
// failure.
var resultsExampleCases = []resultsExampleCase{
	{
		name:   "batch.stored",
		source: fromExample("batch.succeeded"),
		spec: ResultsSpec{
			State:        StateSucceeded,
			Bucket:       "acme-geminihooks-results",
			ObjectPrefix: "gemini/batch/batch_123456/",
			Objects: []StoredObject{
				gcsObject("gemini/batch/batch_123456/results.jsonl", "application/jsonl", batchResults),
				gcsObject("gemini/batch/batch_123456/manifest.json", "application/json", manifest("batches/batch_123456")),
			},
			Counts:         &RequestCounts{Requests: 2, Succeeded: 2, Failed: 0},
			JobCompletedAt: mustTime("2026-01-22T11:59:58.4Z"),
			StartedAt:      mustTime("2026-01-22T12:00:01.912Z"),
			FinishedAt:     mustTime("2026-01-22T12:00:03.187Z"),
		},
	},
	{
		name:   "interaction.stored",
		source: fromExample("interaction.completed"),
		spec: func() ResultsSpec {
			const prefix = "gemini/interaction/v1_ChdhbXhQYVp1T0ZfN2xqTVlQbTRTMjBBdxIXYW14UGFadU9GXzdsak1ZUG00UzIwQXc/"
			return ResultsSpec{
				State:        StateCompleted,
				Bucket:       "acme-geminihooks-results",
				ObjectPrefix: prefix,
				Objects: []StoredObject{
					gcsObject(prefix+"interaction.json", "application/json", []byte(`{"id":"v1_ChdhbXhQYVp1T0ZfN2xqTVlQbTRTMjBBdxIXYW14UGFadU9GXzdsak1ZUG00UzIwQXc","status":"completed"}`)),
					gcsObject(prefix+"report.md", "text/markdown; charset=utf-8", []byte("# Findings\n\nWebhooks remove the need to poll.[[1]](https://ai.google.dev/gemini-api/docs/webhooks)\n")),
					gcsObject(prefix+"citations.json", "application/json", []byte(`[{"n":1,"url":"https://ai.google.dev/gemini-api/docs/webhooks"}]`)),
					gcsObject(prefix+"manifest.json", "application/json", manifest("interactions/v1_ChdhbXhQYVp1T0ZfN2xqTVlQbTRTMjBBdxIXYW14UGFadU9GXzdsak1ZUG00UzIwQXc")),
				},
				JobCompletedAt: mustTime("2026-05-04T09:29:59Z"),
				StartedAt:      mustTime("2026-05-04T09:30:01.040Z"),
				FinishedAt:     mustTime("2026-05-04T09:30:01.733Z"),
			}
		}(),
	},
	{
		name:   "video.stored",
		source: fromExample("video.generated"),
		spec: ResultsSpec{
			State:        StateGenerated,
			Bucket:       "acme-geminihooks-results",
			ObjectPrefix: "gemini/video/a1b2c3d4e5f6/",
			Objects: []StoredObject{
				gcsObject("gemini/video/a1b2c3d4e5f6/video.mp4", "video/mp4", videoBytes),
				gcsObject("gemini/video/a1b2c3d4e5f6/manifest.json", "application/json", manifest("models/veo-3.0-generate-001/operations/a1b2c3d4e5f6")),
			},
			StartedAt:  mustTime("2026-05-05T08:00:01.500Z"),
			FinishedAt: mustTime("2026-05-05T08:00:04.020Z"),
		},
	},
	{
		// The batch succeeded, but the completion event waited two days in
		// the subscription (the materializer was down), and by then the
		// Files API had deleted the results. The failure is recorded in a
		// manifest.
		name: "batch.failed",
		source: func(t testing.TB) *Event {
			return normalizeBody(t, `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-20T06:00:00Z","data":{"id":"batches/7hq3kx0p2n"}}`,
				Meta{WebhookID: "msg_2KWZ6eSi9gHy2aX7dL4qTc9KjEh", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-20T06:00:01.120Z")})
		},
		spec: ResultsSpec{
			State:        StateSucceeded,
			Bucket:       "acme-geminihooks-results",
			ObjectPrefix: "gemini/batch/7hq3kx0p2n/",
			Objects: []StoredObject{
				gcsObject("gemini/batch/7hq3kx0p2n/manifest.json", "application/json", manifest("batches/7hq3kx0p2n")),
			},
			Counts:         &RequestCounts{Requests: 500, Succeeded: 497, Failed: 3},
			JobCompletedAt: mustTime("2026-01-20T05:59:57Z"),
			StartedAt:      mustTime("2026-01-22T07:41:13.004Z"),
			FinishedAt:     mustTime("2026-01-22T07:41:13.481Z"),
		},
		failure: &Failure{
			Code:      "results_not_found",
			Message:   "The results file files/batch-7hq3kx0p2n-output of batches/7hq3kx0p2n no longer exists (404 NOT_FOUND); the Files API keeps batch results for 48 hours.",
			Permanent: true,
		},
	},
}

func TestResults_golden(t *testing.T) {
	t.Parallel()
	for _, tc := range resultsExampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := tc.build(t)
			if err != nil {
				t.Fatalf("failed to build the results event: %v", err)
			}
			compareGolden(t, filepath.Join("testdata", "results-examples", tc.name+".json"), r)
		})
	}
}

func TestResultsExamples_coverEveryKind(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "results-examples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeResults(b)
		if err != nil {
			t.Fatalf("DecodeResults(%s) error = %v", f, err)
		}
		seen[string(r.Data.Kind)+" "+r.Type] = true
		if r.Data.Error != nil && r.Data.Error.Permanent {
			seen["permanent failure"] = true
		}
	}
	for _, want := range []string{
		"batch " + ResultsTypeStored, "interaction " + ResultsTypeStored, "video " + ResultsTypeStored,
		"batch " + ResultsTypeFailed, "permanent failure",
	} {
		if !seen[want] {
			t.Errorf("no example under testdata/results-examples for %s", want)
		}
	}
}
