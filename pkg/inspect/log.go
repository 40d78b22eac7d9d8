package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// Defaults of LogOptions.
const (
	// DefaultKeep is how many deliveries (and jobs) the log keeps.
	DefaultKeep = 200
	// DefaultMaxBody is how much of each delivery's body the log keeps; a
	// longer body is shown cut and cannot be replayed.
	DefaultMaxBody = 256 << 10
)

// maxAnswer bounds the receiver's answer the log keeps: small JSON.
const maxAnswer = 4 << 10

// redacted replaces the value of headers that carry credentials.
const redacted = "[redacted]"

// LogOptions configures a Log.
type LogOptions struct {
	// Keep is how many deliveries, and how many jobs, the log keeps; the
	// oldest go first. Zero means DefaultKeep.
	Keep int
	// MaxBody is how many bytes of each body the log keeps. Zero means
	// DefaultMaxBody.
	MaxBody int
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Log records what the local stack does (the deliveries the receiver
// answers, the events it publishes, the results the materializer
// announces) in bounded memory, and tells subscribers as it happens. It
// never keeps a signature or other credential. It is safe for concurrent
// use.
type Log struct {
	keep, maxBody int
	now           func() time.Time

	mu sync.Mutex
	// explainer explains rejected deliveries; nil until Explain.
	explainer Explainer
	// dseq and jseq number deliveries and jobs.
	dseq, jseq int64
	deliveries []*Delivery // oldest first
	jobs       []*Job      // oldest first; a changed job is replaced, never mutated
	subs       map[chan Change]struct{}
}

// NewLog returns an empty Log.
func NewLog(opts LogOptions) (*Log, error) {
	if opts.Keep < 0 || opts.MaxBody < 0 {
		return nil, errors.New("inspect: Keep and MaxBody must not be negative")
	}
	l := &Log{keep: opts.Keep, maxBody: opts.MaxBody, now: opts.Now, subs: map[chan Change]struct{}{}}
	if l.keep == 0 {
		l.keep = DefaultKeep
	}
	if l.maxBody == 0 {
		l.maxBody = DefaultMaxBody
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Explainer says why a delivery does or does not verify, with the
// receiver's configuration: a *signature.Verifier.
type Explainer interface {
	Explain(ctx context.Context, h http.Header, body []byte) signature.Report
}

var _ Explainer = (*signature.Verifier)(nil)

// Explain makes the log explain each rejected delivery with e, as
// geminihooks verify does, while it still has the signature (which it then
// forgets).
func (l *Log) Explain(e Explainer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.explainer = e
}

// Explanation is what the verifier found in a rejected delivery. It holds
// no secret, only the labels of the secrets tried.
type Explanation struct {
	Scheme string
	// Timestamp is webhook-timestamp; Skew how old it was, against the
	// allowed Tolerance.
	Timestamp                   time.Time
	Skew, Tolerance             time.Duration
	Signatures, OtherSignatures int
	SecretsTried                []string
	MatchedSecret               string
	Algorithm, KeyID            string
	// Err is the verifier's verdict, empty when the delivery verifies (and
	// the receiver rejected it for another reason).
	Err string
}

// Delivery is one request the receiver answered.
type Delivery struct {
	// Seq numbers deliveries in the order the log saw them, from 1.
	Seq  int64
	Time time.Time
	// WebhookID, EventType and Resource come from the request; empty when
	// it did not carry them.
	WebhookID, EventType, Resource string
	// Scheme is "hmac", "jwt" or "none", from the signature header's shape.
	Scheme string
	// Status is the HTTP status of the answer.
	Status int
	// Verdict is the receiver's status ("accepted", "duplicate", …) for a
	// 2xx answer, its error code otherwise; Message is the error's text.
	Verdict, Message string
	Latency          time.Duration
	// Headers are the request's headers, sorted, credentials redacted.
	Headers []Header
	// Body is the start of the request body; Truncated says it is cut.
	Body      []byte
	Truncated bool
	// Answer is the start of the receiver's answer.
	Answer []byte
	// Why explains a rejected delivery, when the log has an Explainer.
	Why *Explanation
}

// OK reports whether the receiver acknowledged the delivery.
func (d *Delivery) OK() bool { return d.Status >= 200 && d.Status < 300 }

// Header is one request header line.
type Header struct{ Name, Value string }

// Job is what the log saw of one job, by resource name.
type Job struct {
	// Seq numbers jobs in the order the log first saw them, from 1.
	Seq      int64
	Resource string
	// Steps are the job's moments, in the order seen.
	Steps []Step
	// Folder is the job's folder under the data directory (slash
	// separated), once results are announced.
	Folder string
	// Outcome is the results event type, once announced.
	Outcome string
}

// Step is one moment of a job.
type Step struct {
	Name, Detail string
	Time         time.Time
	// Since is the time from the previous step.
	Since time.Duration
}

// Change is news for subscribers: one delivery recorded or one job changed.
type Change struct {
	Delivery *Delivery
	Job      *Job
}

// Deliveries returns the deliveries kept, newest first.
func (l *Log) Deliveries() []*Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.deliveries)
	slices.Reverse(out)
	return out
}

// Delivery returns the delivery seq, if still kept.
func (l *Log) Delivery(seq int64) (*Delivery, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.deliveries {
		if d.Seq == seq {
			return d, true
		}
	}
	return nil, false
}

// Jobs returns the jobs kept, newest first.
func (l *Log) Jobs() []*Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.jobs)
	slices.Reverse(out)
	return out
}

// Job returns the job with this resource name, if kept.
func (l *Log) Job(resource string) (*Job, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.jobIndex(resource); i >= 0 {
		return l.jobs[i], true
	}
	return nil, false
}

// Subscribe returns a channel of changes and a function ending the
// subscription. A subscriber that falls behind misses changes rather than
// slowing the stack down.
func (l *Log) Subscribe() (<-chan Change, func()) {
	ch := make(chan Change, 64)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// Wrap returns next recording each request it answers.
func (l *Log) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := l.now()
		var body []byte
		if r.Body != nil {
			// Keep the start; the handler reads the whole body as sent.
			body, _ = io.ReadAll(io.LimitReader(r.Body, int64(l.maxBody)+1))
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		var why *Explanation
		if l.explainerOf() != nil && (rec.status() < 200 || rec.status() >= 300) && len(body) <= l.maxBody {
			why = explain(r.Context(), l.explainerOf(), r.Header, body)
		}
		l.record(r.Header, body, rec, start, why)
	})
}

// record adds the delivery the handler answered.
func (l *Log) record(h http.Header, body []byte, rec *recorder, start time.Time, why *Explanation) {
	d := &Delivery{Time: start, Latency: l.now().Sub(start), Status: rec.status(), Answer: rec.answer.Bytes(), Why: why,
		WebhookID: h.Get(signature.HeaderID), Scheme: scheme(h), Headers: redact(h)}
	if len(body) > l.maxBody {
		body, d.Truncated = body[:l.maxBody], true
	}
	d.Body = body
	if n, err := event.Parse(body); err == nil {
		d.EventType, d.Resource = n.Type, n.Resource()
	}
	var answer struct {
		Status string `json:"status"`
		Error  struct{ Code, Message string }
	}
	if json.Unmarshal(d.Answer, &answer) == nil {
		d.Verdict, d.Message = answer.Status, answer.Error.Message
		if answer.Error.Code != "" {
			d.Verdict = answer.Error.Code
		}
	}
	if d.Verdict == "" {
		d.Verdict = http.StatusText(d.Status)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.dseq++
	d.Seq = l.dseq
	l.deliveries = append(l.deliveries, d)
	if len(l.deliveries) > l.keep {
		l.deliveries = slices.Delete(l.deliveries, 0, len(l.deliveries)-l.keep)
	}
	l.notify(Change{Delivery: d})
	if d.OK() && d.Resource != "" {
		l.step(d.Resource, Step{Name: "webhook received", Detail: d.Verdict + " (" + d.Scheme + ")", Time: start}, nil)
	}
}

func (l *Log) explainerOf() Explainer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.explainer
}

// explain runs e on the delivery and keeps what holds no secret.
func explain(ctx context.Context, e Explainer, h http.Header, body []byte) *Explanation {
	rep := e.Explain(ctx, h, body)
	why := &Explanation{Scheme: string(rep.Scheme), Timestamp: rep.Timestamp, Skew: rep.Skew, Tolerance: rep.Tolerance,
		Signatures: rep.Signatures, OtherSignatures: rep.OtherSignatures, SecretsTried: rep.SecretsTried,
		MatchedSecret: rep.MatchedSecret, Algorithm: rep.Algorithm, KeyID: rep.KeyID}
	if rep.Err != nil {
		why.Err = rep.Err.Error()
	}
	return why
}

// Published records a completion event the receiver or the reconciler
// published.
func (l *Log) Published(ev *event.Event) {
	if ev.Subject == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.step(ev.Subject, Step{Name: "event published", Detail: ev.Type, Time: l.now()}, nil)
}

// Announced records a results event the materializer published.
func (l *Log) Announced(r *event.Results) {
	if r.Subject == "" {
		return
	}
	folder := ""
	if rest, ok := strings.CutPrefix(r.Data.Prefix, "gs://"); ok {
		// The data directory holds the bucket's objects: drop the bucket.
		if _, p, ok := strings.Cut(rest, "/"); ok {
			folder = strings.Trim(p, "/")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.step(r.Subject, Step{Name: "results announced", Detail: r.Type, Time: l.now()}, func(j *Job) {
		j.Folder, j.Outcome = folder, r.Type
	})
}

// Materialized records the materializer's steps for a job, which arrive
// together once its push has ended: the job fetched, each object stored.
func (l *Log) Materialized(resource string, steps []local.Step) {
	if resource == "" || len(steps) == 0 {
		return
	}
	out := make([]Step, len(steps))
	for i, s := range steps {
		out[i] = Step{Name: s.Name, Detail: path.Base(s.Detail), Time: s.At}
		switch s.Name {
		case local.StepFetched:
			out[i].Name, out[i].Detail = "job fetched", ""
		case local.StepStored:
			out[i].Name = "object stored"
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.step(resource, out[0], nil, out[1:]...)
}

// step adds s and more to the job's steps in time order, creating the
// job, and applies set. l.mu must be held.
func (l *Log) step(resource string, s Step, set func(*Job), more ...Step) {
	var j Job
	if i := l.jobIndex(resource); i >= 0 {
		j = *l.jobs[i]
		j.Steps = slices.Clone(j.Steps)
		l.jobs = slices.Delete(l.jobs, i, i+1)
	} else {
		l.jseq++
		j = Job{Seq: l.jseq, Resource: resource}
	}
	// Steps come from several goroutines (the receiver, the subscribers,
	// the materializer's spans), not always in the order they happened.
	j.Steps = append(append(j.Steps, s), more...)
	slices.SortStableFunc(j.Steps, func(a, b Step) int { return a.Time.Compare(b.Time) })
	for i := range j.Steps {
		j.Steps[i].Since = 0
		if i > 0 {
			j.Steps[i].Since = j.Steps[i].Time.Sub(j.Steps[i-1].Time)
		}
	}
	if set != nil {
		set(&j)
	}
	l.jobs = append(l.jobs, &j)
	if len(l.jobs) > l.keep {
		l.jobs = slices.Delete(l.jobs, 0, len(l.jobs)-l.keep)
	}
	l.notify(Change{Job: &j})
}

// jobIndex returns the index of the job, or -1. l.mu must be held.
func (l *Log) jobIndex(resource string) int {
	return slices.IndexFunc(l.jobs, func(j *Job) bool { return j.Resource == resource })
}

// notify tells every subscriber with room. l.mu must be held.
func (l *Log) notify(c Change) {
	for ch := range l.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// scheme names the signature scheme the request's signature header uses,
// by its shape: a JWT is three dot-separated parts, HMAC signatures start
// with a version.
func scheme(h http.Header) string {
	v := strings.TrimSpace(h.Get(signature.HeaderSignature))
	switch {
	case v == "":
		return "none"
	case strings.Count(v, ".") == 2 && !strings.Contains(v, ","):
		return string(signature.SchemeJWT)
	default:
		return string(signature.SchemeHMAC)
	}
}

// credentialHeaders are the headers whose values are never kept.
var credentialHeaders = []string{signature.HeaderSignature, "Authorization", "Cookie", "Proxy-Authorization"}

// redact returns h's lines sorted by name, credentials replaced.
func redact(h http.Header) []Header {
	var out []Header
	for name, values := range h {
		secret := slices.ContainsFunc(credentialHeaders, func(c string) bool { return strings.EqualFold(c, name) })
		for _, v := range values {
			if secret {
				v = redacted
			}
			out = append(out, Header{Name: name, Value: v})
		}
	}
	slices.SortStableFunc(out, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// recorder keeps the status and the start of the answer it passes on.
type recorder struct {
	http.ResponseWriter
	code   int
	answer bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if room := maxAnswer - r.answer.Len(); room > 0 {
		r.answer.Write(b[:min(room, len(b))])
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
