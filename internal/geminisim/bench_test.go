package geminisim

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkDownload measures the JSONL download over loopback: generation,
// the HTTP stack and a client that discards the bytes.
func BenchmarkDownload(b *testing.B) {
	key, err := testKey()
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	for _, tc := range []struct {
		name string
		file ResultsFile
	}{
		{"1KiB_lines", ResultsFile{Size: size, FailureRatio: 0.01}},
		{"64KiB_lines", ResultsFile{Size: size, LineSize: 64 << 10}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sim, err := New(Options{APIKey: testAPIKey, SigningKey: key})
			if err != nil {
				b.Fatal(err)
			}
			if err := sim.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = sim.Close() })
			name, err := sim.AddFile(tc.file)
			if err != nil {
				b.Fatal(err)
			}
			url := sim.URL() + "/download/v1beta/" + name + ":download?alt=media"
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
				req.Header.Set("x-goog-api-key", testAPIKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkGenerate measures the generators alone.
func BenchmarkGenerate(b *testing.B) {
	const size = 64 << 20
	for _, tc := range []struct {
		name string
		c    Content
	}{
		{"results", ResultsFile{Size: size, FailureRatio: 0.01}},
		{"video", VideoFile{Size: size}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.c.NewReader().WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
