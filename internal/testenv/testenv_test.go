package testenv

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// recorder is a testing.TB whose Fatalf and Skipf are recorded instead of
// ending the real test, so the helpers' own failures can be asserted. Run
// the code under test through run: like the real methods, Fatalf and Skipf
// stop the calling goroutine.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestRequireEmulator(t *testing.T) {
	// Not parallel: t.Setenv.
	tests := []struct {
		name        string
		env         map[string]string
		wantSkip    bool
		wantFatal   bool
		wantMessage string
	}{
		{name: "set", env: map[string]string{config.EnvPubSubEmulatorHost: "127.0.0.1:1", "CI": "true"}},
		{name: "unset_locally_skips", env: map[string]string{"CI": ""}, wantSkip: true, wantMessage: "scripts/test.sh"},
		{name: "unset_in_ci_fails", env: map[string]string{"CI": "true"}, wantFatal: true, wantMessage: "scripts/test.sh"},
		{name: "unset_when_required_fails", env: map[string]string{"CI": "", RequireEnv: "true"}, wantFatal: true, wantMessage: config.EnvPubSubEmulatorHost},
		{name: "unset_ci_false_skips", env: map[string]string{"CI": "false"}, wantSkip: true, wantMessage: config.EnvPubSubEmulatorHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.EnvPubSubEmulatorHost, "")
			t.Setenv(RequireEnv, "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := &recorder{TB: t}
			r.run(func(tb testing.TB) { requireEmulator(tb, config.EnvPubSubEmulatorHost) })
			if got := r.skipped != ""; got != tc.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, r.skipped, tc.wantSkip)
			}
			if got := r.fatal != ""; got != tc.wantFatal {
				t.Errorf("fatal = %v (%q), want %v", got, r.fatal, tc.wantFatal)
			}
			if msg := r.skipped + r.fatal; !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("message %q does not mention %q", msg, tc.wantMessage)
			}
		})
	}
}

func TestProject(t *testing.T) {
	t.Setenv("GOOGLE_CLOUD_PROJECT", "")
	if got := Project(); got != DefaultProject {
		t.Errorf("Project() = %q, want %q", got, DefaultProject)
	}
	t.Setenv("GOOGLE_CLOUD_PROJECT", "other")
	if got := Project(); got != "other" {
		t.Errorf("Project() = %q, want %q", got, "other")
	}
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{2,254}$`)

func TestUniqueName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		want   string // required leading part
	}{
		{name: "simple", prefix: "topic", want: "topic-testuniquename-simple-"},
		{name: "prefix_with_symbols", prefix: "My_Topic.v2", want: "my-topic-v2-testuniquename-"},
		{name: "empty_prefix", prefix: "", want: "testuniquename-empty-prefix-"},
		{name: "digit_prefix", prefix: "42", want: "t-42-testuniquename-"},
		{name: "long_prefix", prefix: strings.Repeat("p", 300), want: strings.Repeat("p", maxNameBase)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := UniqueName(t, tc.prefix), UniqueName(t, tc.prefix)
			if !strings.HasPrefix(a, tc.want) {
				t.Errorf("UniqueName = %q, want prefix %q", a, tc.want)
			}
			if !validName.MatchString(a) {
				t.Errorf("UniqueName = %q, not a valid Pub/Sub id / Firestore collection id", a)
			}
			if a == b {
				t.Errorf("UniqueName returned %q twice", a)
			}
		})
	}
}

func TestTopicAndPull(t *testing.T) {
	t.Parallel()
	c := PubSub(t)
	topic, sub := Topic(t, c, WithMessageOrdering())
	pub := c.Publisher(topic)
	pub.EnableMessageOrdering = true
	defer pub.Stop()
	ctx := t.Context()
	for i := range 3 {
		m := &pubsub.Message{Data: fmt.Appendf(nil, "m%d", i), OrderingKey: "k"}
		if _, err := pub.Publish(ctx, m).Get(ctx); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}

	t.Run("exact_count", func(t *testing.T) {
		var got []string
		for _, m := range Pull(t, c, sub, 3, 30*time.Second) {
			got = append(got, string(m.Data))
		}
		if diff := cmp.Diff([]string{"m0", "m1", "m2"}, got); diff != "" {
			t.Errorf("pulled messages mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("extra_message_fails", func(t *testing.T) {
		for _, d := range []string{"x", "y"} {
			if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(d), OrderingKey: "k"}).Get(ctx); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		r := &recorder{TB: t}
		r.run(func(tb testing.TB) { Pull(tb, c, sub, 1, 30*time.Second) })
		if !strings.Contains(r.fatal, "want exactly 1") {
			t.Errorf("Pull of 1 with 2 available: fatal %q, want it to report the extra message", r.fatal)
		}
	})

	t.Run("missing_message_fails", func(t *testing.T) {
		r := &recorder{TB: t}
		r.run(func(tb testing.TB) { Pull(tb, c, sub, 1, 500*time.Millisecond) })
		if !strings.Contains(r.fatal, "received 0 messages") {
			t.Errorf("Pull from an empty subscription: fatal %q, want it to report the shortfall", r.fatal)
		}
	})
}

func TestFirestore(t *testing.T) {
	t.Parallel()
	c := Firestore(t)
	ref := c.Collection(UniqueName(t, "probe")).Doc("d")
	ctx := context.Background()
	if _, err := ref.Create(ctx, map[string]any{"ok": true}); err != nil {
		t.Fatalf("Create on the emulator: %v", err)
	}
	if _, err := ref.Delete(ctx); err != nil {
		t.Fatalf("Delete on the emulator: %v", err)
	}
}
