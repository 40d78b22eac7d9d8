package receiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

type sizedBody struct {
	name string
	body []byte
}

// fill returns prefix, then unit repeated, then suffix, padded with "a"
// before suffix to exactly size bytes; unit and the padding land inside a
// JSON string.
func fill(prefix, unit, suffix string, size int) []byte {
	room := size - len(prefix) - len(suffix)
	n := room / len(unit)
	return []byte(prefix + strings.Repeat(unit, n) + strings.Repeat("a", room-n*len(unit)) + suffix)
}

// worstCaseBodies returns bodies of exactly size bytes built to make the
// largest and the deepest events: characters that JSON encoders escape or
// that grow when re-encoded, in every place the event copies them to, at
// the deepest nesting the receiver accepts.
func worstCaseBodies(size int) []sizedBody {
	const (
		batch  = `{"type":"batch.succeeded","data":{"id":"b1",`
		failed = `{"type":"batch.failed","data":{"id":"b1",`
	)
	lineSep := "\u2028" // 3 bytes in the body, 6 (\u2028) in any encoding
	arrays := func(n int) (string, string) { return strings.Repeat("[", n), strings.Repeat("]", n) }
	// Depth: the body's object is 1, data and the top-level user_metadata
	// 2, data.user_metadata 3.
	umOpen, umClose := arrays(event.MaxDepth - 3)
	rawOpen, rawClose := arrays(event.MaxDepth - 2)
	topOpen, topClose := arrays(event.MaxDepth - 2)
	bodies := []sizedBody{
		{"lt_in_data_user_metadata", fill(batch+`"user_metadata":{"k":"`, "<", `"}}}`, size)},
		{"lt_in_top_user_metadata", fill(`{"type":"batch.succeeded","data":{"id":"b1"},"user_metadata":{"k":"`, "<", `"}}`, size)},
		{"html_in_error_message", fill(failed+`"error_message":"`, "<>&", `"}}`, size)},
		{"html_in_unmodelled_field", fill(batch+`"extra":"`, "<>&", `"}}`, size)},
		{"u_escapes_in_user_metadata", fill(batch+`"user_metadata":{"k":"`, `\u0001`, `"}}}`, size)},
		{"escaped_line_separators_in_user_metadata", fill(batch+`"user_metadata":{"k":"`, `\u2028`, `"}}}`, size)},
		{"line_separators_in_user_metadata", fill(batch+`"user_metadata":{"k":"`, lineSep, `"}}}`, size)},
		{"line_separators_in_error_message", fill(failed+`"error_message":"`, lineSep, `"}}`, size)},
		{"line_separators_in_version", fill(`{"type":"batch.succeeded","data":{"id":"b1"},"version":"`, lineSep, `"}`, size)},
		{"line_separators_in_unmodelled_field", fill(batch+`"extra":"`, lineSep, `"}}`, size)},
		{"max_depth_in_data_user_metadata", fill(batch+`"user_metadata":{"k":`+umOpen+`"`, lineSep, `"`+umClose+`}}}`, size)},
		{"max_depth_in_unmodelled_field", fill(batch+`"extra":`+rawOpen+`"`, "<", `"`+rawClose+`}}`, size)},
		{"max_depth_in_top_user_metadata", fill(`{"type":"batch.succeeded","data":{"id":"b1"},"user_metadata":{"k":`+topOpen+`"`, "<", `"`+topClose+`}}`, size)},
	}
	// Many scalar entries: each also becomes a um_ attribute, up to
	// Pub/Sub's 100 attributes of 1024-byte values.
	var many bytes.Buffer
	many.WriteString(batch + `"user_metadata":{`)
	value := strings.Repeat(lineSep, 1024/len(lineSep))
	for i := 0; many.Len()+len(value)+32 < size; i++ {
		fmt.Fprintf(&many, `"k%07d":"%s",`, i, value)
	}
	many.WriteString(`"pad":"`)
	many.WriteString(strings.Repeat("a", size-many.Len()-len(`"}}}`)))
	many.WriteString(`"}}}`)
	bodies = append(bodies, sizedBody{"many_scalar_user_metadata_entries", many.Bytes()})
	return bodies
}

// jsonDepth returns how deeply b nests objects and arrays, read with
// encoding/json's tokenizer: an oracle independent of the receiver's own
// depth scan. It fails the test on invalid JSON.
func jsonDepth(tb testing.TB, b []byte) int {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			tb.Fatalf("published data is not JSON: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// publishWorstCase delivers body through a receiver capped at its size and
// returns the published message.
func publishWorstCase(tb testing.TB, sb sizedBody) publish.Message {
	tb.Helper()
	h := newHarness(tb, harnessOptions{maxBody: int64(len(sb.body))})
	resp := h.do(h.hmacRequest("msg_"+sb.name, h.clock.Now(), sb.body, 0))
	if resp.Status != http.StatusOK {
		tb.Fatalf("%s: status %d %s, want 200", sb.name, resp.Status, resp.Raw)
	}
	msgs := h.pub.Messages()
	if len(msgs) != 1 {
		tb.Fatalf("%s: %d messages published, want 1", sb.name, len(msgs))
	}
	return msgs[0]
}

// TestWorstCaseBodiesFitPubSub sends the worst bodies at the default body
// cap and at the largest allowed one; each must publish a message under
// Pub/Sub's limit that decodes, at most one level deeper than the body.
func TestWorstCaseBodiesFitPubSub(t *testing.T) {
	t.Parallel()
	// At the limit only the two largest (twofold growth plus attributes)
	// run: each 4 MiB case takes seconds under the race detector.
	atLimit := map[string]bool{"line_separators_in_user_metadata": true, "many_scalar_user_metadata_entries": true}
	for _, size := range []int{DefaultMaxBodyBytes, MaxBodyBytesLimit} {
		for _, sb := range worstCaseBodies(size) {
			if size == MaxBodyBytesLimit && !atLimit[sb.name] {
				continue
			}
			t.Run(fmt.Sprintf("%s_%d", sb.name, size), func(t *testing.T) {
				t.Parallel()
				if len(sb.body) != size {
					t.Fatalf("body is %d bytes, want %d", len(sb.body), size)
				}
				m := publishWorstCase(t, sb)
				// At most twice the body plus the attributes' copies
				// (100 × 1280 bytes) and the envelope.
				if got, bound := m.Size(), 2*size+140_000; got > bound || got >= publish.MaxMessageBytes {
					t.Errorf("message is %d bytes, want at most %d and under %d", got, bound, publish.MaxMessageBytes)
				}
				if _, err := event.Decode(m.Data); err != nil {
					t.Errorf("event.Decode: %v", err)
				}
				if d := jsonDepth(t, m.Data); d > event.MaxDepth+1 {
					t.Errorf("event nests %d levels, want at most %d", d, event.MaxDepth+1)
				}
				if bytes.Contains(m.Data, []byte(`\u003c`)) || bytes.Contains(m.Data, []byte(`\u0026`)) {
					t.Error("event escapes HTML characters")
				}
			})
		}
	}
}

func TestDeepBodiesRejected(t *testing.T) {
	t.Parallel()
	deep := func(levels int) []byte {
		// levels counts the body's own object.
		return []byte(`{"type":"batch.succeeded","data":{"id":"b1","user_metadata":{"k":` +
			strings.Repeat("[", levels-3) + strings.Repeat("]", levels-3) + `}}}`)
	}
	tests := []struct {
		name       string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"at_max_depth", deep(event.MaxDepth), http.StatusOK, ""},
		{"one_over_max_depth", deep(event.MaxDepth + 1), http.StatusBadRequest, event.CodeNestingTooDeep},
		{"deeper_than_go_decoder_allows", deep(10_001), http.StatusBadRequest, event.CodeNestingTooDeep},
		{"invalid_utf8", []byte("{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"b1\",\"x\":\"\xff\"}}"), http.StatusBadRequest, event.CodeInvalidJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			resp := h.do(h.hmacRequest("msg_1", h.clock.Now(), tc.body, 0))
			if resp.Status != tc.wantStatus || resp.errCode() != tc.wantCode {
				t.Errorf("got %d %q, want %d %q: %s", resp.Status, resp.errCode(), tc.wantStatus, tc.wantCode, resp.Raw)
			}
		})
	}
}

// TestEventTooLargeIsNotRetried: a publish that Pub/Sub refuses as too
// large gets a non-5xx answer, is logged as an error and releases the claim.
func TestEventTooLargeIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.pub.FailNext(fmt.Errorf("refused: %w", publish.ErrMessageTooLarge))
	payload := body("batch.succeeded", "batches/b1")
	resp := h.do(h.hmacRequest("msg_big", h.clock.Now(), payload, 0))
	if resp.Status != http.StatusUnprocessableEntity || resp.errCode() != codeEventTooLarge {
		t.Fatalf("got %d %q, want 422 %q: %s", resp.Status, resp.errCode(), codeEventTooLarge, resp.Raw)
	}
	if resp.Header.Get("Retry-After") != "" {
		t.Error("422 answer carries Retry-After")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"severity":"ERROR"`) || !strings.Contains(logs, codeEventTooLarge) {
		t.Errorf("refusal not logged as an error:\n%s", logs)
	}
	// The claim is released: a retry is not answered delivery_in_progress.
	if resp := h.do(h.hmacRequest("msg_big", h.clock.Now(), payload, 0)); resp.Status != http.StatusOK {
		t.Errorf("retry: %d %s, want 200", resp.Status, resp.Raw)
	}
}

func TestNewRejectsBodyCapOverLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	_, err := New(h.handler.checker.verifier, h.ledger, h.pub, h.jobs, h.handler.logger, Options{MaxBodyBytes: MaxBodyBytesLimit + 1})
	if err == nil {
		t.Fatal("New accepted MaxBodyBytes over MaxBodyBytesLimit")
	}
}

// BenchmarkMaxEventForMaxBody reports the largest Pub/Sub message (data,
// attributes, ordering key) built from the worst bodies at the default cap,
// as max_event_bytes. Run once: -benchtime=1x.
func BenchmarkMaxEventForMaxBody(b *testing.B) {
	largest := 0
	for b.Loop() {
		for _, sb := range worstCaseBodies(DefaultMaxBodyBytes) {
			largest = max(largest, publishWorstCase(b, sb).Size())
		}
	}
	b.ReportMetric(float64(largest), "max_event_bytes")
}
