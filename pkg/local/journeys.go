package local

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// newTracerProvider returns the stack's tracer provider: every trace
// sampled, kept by journeys for the demo's timelines and, when lines is
// set, printed to it one line per span.
func newTracerProvider(j *journeys, lines io.Writer) *sdktrace.TracerProvider {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(j)}
	if lines != nil {
		opts = append(opts, sdktrace.WithSyncer(tracing.NewLineExporter(lines)))
	}
	return sdktrace.NewTracerProvider(opts...)
}

// maxJourneySpans bounds the spans journeys keeps: the oldest go first, so
// a long local session does not grow without end.
const maxJourneySpans = 4096

// journeys keeps the latest ended spans, to draw a job's timeline from.
type journeys struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
	// ended is closed and replaced whenever a span ends.
	ended chan struct{}
	// onStored is Options.Observer's Materialized.
	onStored func(resource string, steps []Step)
}

var _ sdktrace.SpanProcessor = (*journeys)(nil)

func newJourneys(onStored func(string, []Step)) *journeys {
	return &journeys{ended: make(chan struct{}), onStored: onStored}
}

func (j *journeys) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (j *journeys) OnEnd(s sdktrace.ReadOnlySpan) {
	j.mu.Lock()
	if len(j.spans) == maxJourneySpans {
		j.spans = append(j.spans[:0], j.spans[maxJourneySpans/2:]...)
	}
	j.spans = append(j.spans, s)
	close(j.ended)
	j.ended = make(chan struct{})
	var resource string
	var stored []Step
	if j.onStored != nil && s.Name() == materializer.SpanMaterialize {
		if resource = attr(s, "resource"); resource != "" {
			stored = j.storedSteps(s)
		}
	}
	j.mu.Unlock()
	if len(stored) > 0 {
		j.onStored(resource, stored)
	}
}

// storedSteps returns the materializer's steps within push, a push's root
// span, in time order: "fetched" when the job was fetched and
// "stored" for each object stored (its name in Detail), leaving out the
// marker the announcement writes. Spans end before their parents, so
// every descendant of push is kept by now. j.mu is held.
func (j *journeys) storedSteps(push sdktrace.ReadOnlySpan) []Step {
	traceID := push.SpanContext().TraceID()
	within := map[trace.SpanID]bool{push.SpanContext().SpanID(): true}
	announce := map[trace.SpanID]bool{}
	// Descendants end before their ancestors: from the newest span back,
	// each child comes after its parent is known.
	var steps []Step
	for i := len(j.spans) - 1; i >= 0; i-- {
		s := j.spans[i]
		if s.SpanContext().TraceID() != traceID || !within[s.Parent().SpanID()] {
			continue
		}
		id := s.SpanContext().SpanID()
		within[id] = true
		switch s.Name() {
		case materializer.SpanFetch:
			steps = append(steps, Step{Name: StepFetched, At: s.EndTime()})
		case materializer.SpanAnnounce:
			announce[id] = true
		case materializer.SpanUpload, materializer.SpanManifest:
			if !announce[s.Parent().SpanID()] {
				steps = append(steps, Step{Name: StepStored, Detail: attr(s, "object"), At: s.EndTime()})
			}
		}
	}
	slices.SortStableFunc(steps, func(a, b Step) int { return a.At.Compare(b.At) })
	return steps
}

func (j *journeys) Shutdown(context.Context) error   { return nil }
func (j *journeys) ForceFlush(context.Context) error { return nil }

// Names of a job's timeline steps.
const (
	StepReceived   = "received"
	StepReconciled = "reconciled" // instead of received, for a job no webhook brought
	StepPublished  = "published"
	StepFetched    = "fetched"
	StepStored     = "stored"
	StepAnnounced  = "announced"
)

// Steps of a job's timeline, in order.
var timelineSteps = []string{StepReceived, StepPublished, StepFetched, StepStored, StepAnnounced}

// Step is one point of a job's timeline.
type Step struct {
	// Name is received (reconciled for a job no webhook brought),
	// published, fetched, stored or announced.
	Name string
	// Detail is the object's name, for an object stored.
	Detail string
	// At is when it happened.
	At time.Time
}

// timeline returns the steps of the journey of the job named resource: the
// receiver's accepted delivery (received), its publish (published), the
// materializer's fetch from the Gemini API (fetched), its manifest stored
// (stored) and its results announced (announced). It waits until the
// announcement has ended or ctx is done, and returns the steps it found.
func (j *journeys) timeline(ctx context.Context, resource string) []Step {
	for {
		j.mu.Lock()
		steps, ended := j.find(resource), j.ended
		j.mu.Unlock()
		if len(steps) == len(timelineSteps) {
			return steps
		}
		select {
		case <-ctx.Done():
			return steps
		case <-ended:
		}
	}
}

// find is timeline without the wait; j.mu is held.
func (j *journeys) find(resource string) []Step {
	var delivery sdktrace.ReadOnlySpan
	for _, s := range j.spans {
		if s.Name() == receiver.SpanDelivery && attr(s, "resource") == resource && attr(s, "outcome") == receiver.StatusAccepted {
			delivery = s
			break
		}
	}
	if delivery == nil {
		return j.findReconciled(resource)
	}
	at := map[string]time.Time{StepReceived: delivery.StartTime()}
	id := delivery.SpanContext()
	published := map[trace.SpanID]bool{}
	for _, s := range j.spans {
		if s.SpanContext().TraceID() != id.TraceID() {
			continue
		}
		step := ""
		if s.Name() == publish.SpanPublish && s.Parent().SpanID() == id.SpanID() {
			step = StepPublished
			published[s.SpanContext().SpanID()] = true
		} else {
			step = stepOf(s)
		}
		// A redelivery repeats steps: the first of each counts.
		if prev, seen := at[step]; step != "" && (!seen || s.EndTime().Before(prev)) {
			at[step] = s.EndTime()
		}
	}
	for _, s := range j.spans {
		if s.Name() == materializer.SpanMaterialize && published[s.Parent().SpanID()] {
			at[StepPublished] = storedBy(at[StepPublished], s)
		}
	}
	var steps []Step
	for _, name := range timelineSteps {
		t, ok := at[name]
		if !ok {
			break
		}
		steps = append(steps, Step{Name: name, At: t})
	}
	return steps
}

// findReconciled is find for a job no webhook brought: the reconciler's
// publish (its first step is named "reconciled") and the materializer's
// steps within the push that carried it. j.mu is held.
func (j *journeys) findReconciled(resource string) []Step {
	var push sdktrace.ReadOnlySpan
	for _, s := range j.spans {
		if s.Name() == materializer.SpanMaterialize && attr(s, "resource") == resource &&
			(attr(s, "outcome") == string(materializer.Stored) || attr(s, "outcome") == string(materializer.Failed)) {
			push = s
			break
		}
	}
	if push == nil {
		return nil
	}
	var pub sdktrace.ReadOnlySpan
	for _, s := range j.spans {
		if s.Name() == publish.SpanPublish && s.SpanContext().SpanID() == push.Parent().SpanID() {
			pub = s
			break
		}
	}
	if pub == nil {
		return nil
	}
	steps := []Step{{Name: StepReconciled, At: pub.StartTime()}, {Name: StepPublished, At: storedBy(pub.EndTime(), push)}}
	// The pass's trace holds every job it recovered: only the spans inside
	// this push are this job's.
	for _, name := range timelineSteps[2:] {
		var at time.Time
		for _, s := range j.spans {
			if s.SpanContext().TraceID() != push.SpanContext().TraceID() || s.StartTime().Before(push.StartTime()) || s.EndTime().After(push.EndTime()) {
				continue
			}
			if stepOf(s) == name && (at.IsZero() || s.EndTime().Before(at)) {
				at = s.EndTime()
			}
		}
		if at.IsZero() {
			break
		}
		steps = append(steps, Step{Name: name, At: at})
	}
	return steps
}

// storedBy returns when an event was published: its publish span's end,
// unless push, a push that carried it, began earlier. Pub/Sub stores the
// event before it answers the publisher, so the push can start, and the
// materializer fetch the job, before the publish span ends.
func storedBy(publishEnd time.Time, push sdktrace.ReadOnlySpan) time.Time {
	if push.StartTime().Before(publishEnd) {
		return push.StartTime()
	}
	return publishEnd
}

// stepOf names the materializer's step s records, or "".
func stepOf(s sdktrace.ReadOnlySpan) string {
	switch s.Name() {
	case materializer.SpanFetch:
		return StepFetched
	case materializer.SpanManifest:
		return StepStored
	case materializer.SpanAnnounce:
		return StepAnnounced
	}
	return ""
}

// attr returns the string attribute key of s.
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsString()
		}
	}
	return ""
}
