package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// DemoTimeout bounds the whole demo.
const DemoTimeout = 2 * time.Minute

// demoJob is one scenario of the demo: a job the simulator completes, the
// signature scheme its webhook uses, and what must land in the bucket.
type demoJob struct {
	name   string
	scheme string // "hmac" or "jwt"
	// delivery says how its webhook arrives: once (the zero value), twice
	// under two webhook-ids, or not at all.
	delivery demoDelivery
	// run creates and completes the job, returning its notification.
	run func(sim *geminisim.Server) (event.Payload, error)
	// check verifies the job's folder on disk.
	check func(dir string, r *event.Results) error
}

// demoDelivery is how a demo job's webhook arrives.
type demoDelivery int

const (
	deliverOnce demoDelivery = iota
	// deliverTwice sends the same end under two webhook-ids, as two
	// project-level webhooks on one URL would: one event must come of it.
	deliverTwice
	// deliverNone drops the webhook: the reconciler must find the job.
	deliverNone
)

// describe is the WEBHOOK column of the demo's table.
func (d demoDelivery) describe(scheme string) string {
	switch d {
	case deliverTwice:
		return scheme + " ×2 (two webhook-ids, one event)"
	case deliverNone:
		return "dropped → reconciler"
	default:
		return scheme
	}
}

// DemoResult is what the demo saw for one job.
type DemoResult struct {
	Job, Scheme, Resource string
	// Event is the results event's type (results.stored / results.failed).
	Event string
	// Folder is where the job's files are on disk.
	Folder string
	// Latency runs from the job's completion to its announced artifacts.
	Latency time.Duration
	// Timeline is the job's journey as its trace recorded it: received,
	// published, fetched, stored and announced.
	Timeline []Step
	Err      error
}

// timelineWait bounds the wait for a job's last spans to end once its
// results event is in: the announcement's span ends just after it.
const timelineWait = 5 * time.Second

// Demo drives seven jobs through the simulator to completion (a batch with
// a results file, a batch with inlined results, a Deep Research
// interaction, a video, a failed batch, a batch whose webhook arrives twice
// under two webhook-ids and one whose webhook is dropped), delivers their
// webhooks signed with both schemes, has the reconciler find the dropped
// one, waits for the artifacts, checks them, and prints where each landed
// and how long it took. It fails if any artifact is missing or wrong, if
// the second webhook-id is not answered "duplicate", or if the dropped
// job is not recovered.
func (s *Stack) Demo(ctx context.Context, out io.Writer) ([]DemoResult, error) {
	if s.Sim == nil {
		return nil, errors.New("the demo drives the Gemini API simulator; unset GEMINI_API_KEY to use it")
	}
	ctx, cancel := context.WithTimeout(ctx, DemoTimeout)
	defer cancel()
	retry := geminisim.RetryPolicy{MaxAttempts: 8, InitialBackoff: 200 * time.Millisecond, Multiplier: 2, MaxBackoff: 5 * time.Second}
	hmac, err := geminisim.NewSender(geminisim.SenderOptions{Secrets: []string{s.Secret}, Retry: retry})
	if err != nil {
		return nil, err
	}
	jwt, err := geminisim.NewSender(geminisim.SenderOptions{Signer: s.Sim, Retry: retry})
	if err != nil {
		return nil, err
	}
	senders := map[string]*geminisim.Sender{"hmac": hmac, "jwt": jwt}
	defer func() {
		for _, s := range senders {
			s.CloseIdleConnections()
		}
	}()

	jobs := demoJobs()
	results := make([]DemoResult, len(jobs))
	waiters := map[string]chan *event.Results{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Route results events to the job waiting for them.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case r, ok := <-s.Results:
				if !ok {
					return
				}
				mu.Lock()
				ch := waiters[r.Subject]
				mu.Unlock()
				if ch != nil {
					offer(ch, r)
				}
			}
		}
	}()
	for i, j := range jobs {
		res := &results[i]
		res.Job, res.Scheme = j.name, j.delivery.describe(j.scheme)
		n, err := j.run(s.Sim)
		completed := time.Now()
		if err != nil {
			res.Err = err
			continue
		}
		res.Resource = resourceOf(n)
		ch := make(chan *event.Results, 1)
		mu.Lock()
		waiters[res.Resource] = ch
		mu.Unlock()
		wg.Go(func() {
			if err := s.demoDeliver(ctx, senders[j.scheme], j.delivery, n); err != nil {
				res.Err = err
				return
			}
			// A dropped webhook's job is found by reconcile passes, run
			// here as often as a scheduler might, until its results land.
			var tick <-chan time.Time
			if j.delivery == deliverNone {
				t := time.NewTicker(250 * time.Millisecond)
				defer t.Stop()
				tick = t.C
			}
			for {
				select {
				case r := <-ch:
					res.Latency = time.Since(completed)
					res.Event = strings.TrimPrefix(r.Type, "dev.geminihooks.")
					res.Folder = filepath.Join(s.DataDir, filepath.FromSlash(strings.TrimPrefix(r.Data.Prefix, "gs://"+s.Bucket+"/")))
					res.Err = j.check(res.Folder, r)
					return
				case <-tick:
					if _, err := s.ReconcileNow(ctx); err != nil {
						res.Err = err
						return
					}
				case <-ctx.Done():
					res.Err = fmt.Errorf("no results event for %s: %w", res.Resource, ctx.Err())
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range results {
		if results[i].Err == nil {
			tctx, cancel := context.WithTimeout(ctx, timelineWait)
			results[i].Timeline = s.journeys.timeline(tctx, results[i].Resource)
			cancel()
		}
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tWEBHOOK\tRESULT\tCOMPLETE→ARTIFACT\tWHERE")
	var errs []error
	for _, r := range results {
		verdict := r.Event
		if r.Err != nil {
			verdict = "FAILED: " + r.Err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", r.Job, r.Err))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Job, r.Scheme, verdict, r.Latency.Round(time.Millisecond), r.Folder)
	}
	if err := tw.Flush(); err != nil {
		return results, err
	}
	fmt.Fprintln(out, "\nTIMELINES (from the trace of each job, each step's time since the one before)")
	for _, r := range results {
		if r.Err == nil {
			fmt.Fprintf(tw, "%s\t%s\n", r.Job, FormatTimeline(r.Timeline))
		}
	}
	if err := tw.Flush(); err != nil {
		return results, err
	}
	return results, errors.Join(errs...)
}

// demoDelivery sends n's webhook as d says.
func (s *Stack) demoDeliver(ctx context.Context, sender *geminisim.Sender, d demoDelivery, n event.Payload) error {
	switch d {
	case deliverNone:
		return nil
	case deliverTwice:
		for i, id := range []string{"msg_demo_first_" + rand.Text(), "msg_demo_second_" + rand.Text()} {
			rep, err := sender.Send(ctx, geminisim.Delivery{URL: s.URL, Notification: n, WebhookID: id})
			if err != nil {
				return fmt.Errorf("webhook %s not delivered: %w", id, err)
			}
			if last := rep.Attempts[len(rep.Attempts)-1]; i == 1 && !bytes.Contains(last.Answer, []byte(`"duplicate"`)) {
				return fmt.Errorf("the job's end under a second webhook-id was answered %d %s, want duplicate", last.Status, bytes.TrimSpace(last.Answer))
			}
		}
		return nil
	case deliverOnce:
		if _, err := sender.Send(ctx, geminisim.Delivery{URL: s.URL, Notification: n}); err != nil {
			return fmt.Errorf("webhook not delivered: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("unknown demo delivery %d", d)
	}
}

// FormatTimeline writes steps as "received → published +2ms → … = 213ms",
// each step with its time since the one before and the total at the end.
func FormatTimeline(steps []Step) string {
	if len(steps) == 0 {
		return "(no trace recorded)"
	}
	var b strings.Builder
	b.WriteString(steps[0].Name)
	for i := 1; i < len(steps); i++ {
		fmt.Fprintf(&b, " → %s +%s", steps[i].Name, roundDuration(steps[i].At.Sub(steps[i-1].At)))
	}
	fmt.Fprintf(&b, " = %s", roundDuration(steps[len(steps)-1].At.Sub(steps[0].At)))
	if len(steps) < len(timelineSteps) {
		b.WriteString(" (then no further step recorded)")
	}
	return b.String()
}

// roundDuration rounds d for a person: to the microsecond under a
// millisecond, else to a tenth of a millisecond.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}

func resourceOf(n event.Payload) string {
	body, _ := json.Marshal(n)
	parsed, err := event.Parse(body)
	if err != nil {
		return ""
	}
	return parsed.Resource()
}

func demoJobs() []demoJob {
	resultsFile := geminisim.ResultsFile{Size: 4 << 20, FailureRatio: 0.02, Seed: 1}
	video := geminisim.VideoFile{Size: 2 << 20, Seed: 2}
	return []demoJob{
		{
			name: "batch (results file)", scheme: "hmac",
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateBatch(geminisim.BatchSpec{DisplayName: "nightly-eval", Results: resultsFile})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteBatch(name)
			},
			check: func(dir string, r *event.Results) error {
				if err := wantStored(r); err != nil {
					return err
				}
				return sameContent(filepath.Join(dir, materializer.ResultsName), resultsFile)
			},
		},
		{
			name: "batch (inlined)", scheme: "jwt",
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateBatch(geminisim.BatchSpec{Inline: true, Results: geminisim.ResultsFile{Size: 8 << 10, Seed: 3}})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteBatch(name)
			},
			check: func(dir string, r *event.Results) error {
				if err := wantStored(r); err != nil {
					return err
				}
				return jsonLines(filepath.Join(dir, materializer.ResultsName), r.Data.Counts.Requests)
			},
		},
		{
			name: "deep research", scheme: "hmac",
			run: func(sim *geminisim.Server) (event.Payload, error) {
				id, err := sim.CreateInteraction(geminisim.InteractionSpec{Input: "Summarize webhook delivery guarantees."})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteInteraction(id)
			},
			check: func(dir string, r *event.Results) error {
				if err := wantStored(r); err != nil {
					return err
				}
				report, err := os.ReadFile(filepath.Join(dir, materializer.ReportName))
				if err != nil {
					return err
				}
				if !bytes.Contains(report, []byte("](http")) {
					return errors.New("report.md has no citation links")
				}
				for _, name := range []string{materializer.CitationsName, materializer.InteractionName} {
					b, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						return fmt.Errorf("%s is missing: %w", name, err)
					}
					if !json.Valid(b) {
						return fmt.Errorf("%s is not JSON", name)
					}
				}
				return nil
			},
		},
		{
			name: "video", scheme: "jwt",
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateVideo(geminisim.VideoSpec{Video: video})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteVideo(name)
			},
			check: func(dir string, r *event.Results) error {
				if err := wantStored(r); err != nil {
					return err
				}
				return sameContent(filepath.Join(dir, "video-1.mp4"), video)
			},
		},
		{
			name: "batch (webhook twice)", scheme: "hmac", delivery: deliverTwice,
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateBatch(geminisim.BatchSpec{DisplayName: "migrating-webhooks", Results: geminisim.ResultsFile{Size: 64 << 10, Seed: 4}})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteBatch(name)
			},
			check: func(_ string, r *event.Results) error { return wantStored(r) },
		},
		{
			name: "batch (webhook lost)", scheme: "hmac", delivery: deliverNone,
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateBatch(geminisim.BatchSpec{DisplayName: "weekend-outage", Results: geminisim.ResultsFile{Size: 64 << 10, Seed: 5}})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.CompleteBatch(name)
			},
			check: func(_ string, r *event.Results) error { return wantStored(r) },
		},
		{
			name: "batch (failed)", scheme: "hmac",
			run: func(sim *geminisim.Server) (event.Payload, error) {
				name, err := sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 4 << 10}})
				if err != nil {
					return event.Payload{}, err
				}
				return sim.FailBatch(name, geminisim.JobError{Code: 3, Message: "request 17 is not valid JSON"})
			},
			check: func(dir string, r *event.Results) error {
				if r.Type != event.ResultsTypeFailed || r.Data.Error == nil {
					return fmt.Errorf("got %s, want results.failed with the error", r.Type)
				}
				var m materializer.Manifest
				b, err := os.ReadFile(filepath.Join(dir, materializer.ManifestName))
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &m); err != nil {
					return fmt.Errorf("manifest.json is not a manifest: %w", err)
				}
				if m.Error == nil {
					return errors.New("manifest.json does not record the error")
				}
				return nil
			},
		},
	}
}

func wantStored(r *event.Results) error {
	if r.Type != event.ResultsTypeStored {
		msg := ""
		if r.Data.Error != nil {
			msg = ": " + r.Data.Error.Message
		}
		return fmt.Errorf("got %s%s, want results.stored", r.Type, msg)
	}
	return nil
}

// sameContent checks that the file holds exactly the simulator's content.
func sameContent(path string, c geminisim.Content) error {
	want, err := geminisim.DigestOf(c)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != want.Size || got != hex.EncodeToString(want.SHA256[:]) {
		return fmt.Errorf("%s holds %d bytes (sha256 %s); want %d bytes (sha256 %x)", filepath.Base(path), n, got, want.Size, want.SHA256)
	}
	return nil
}

// jsonLines checks that every line of the file is JSON and counts them.
func jsonLines(path string, want int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var n int64
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			return fmt.Errorf("line %d of %s is not JSON", n+1, filepath.Base(path))
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%s has %d lines, want %d", filepath.Base(path), n, want)
	}
	return nil
}
