// Package testenv is what tests across the module share: connections to the
// Firestore and Pub/Sub emulators, direct or through a [FaultProxy] that
// stalls or drops them, and [SyncBuffer] for reading logs while they are
// written.
//
// The emulators are separate processes; tests never start them. Run the
// whole suite with scripts/test.sh, which starts both emulators (gcloud
// emulators firestore / gcloud beta emulators pubsub), waits until they
// answer, exports FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST, runs
// go test and stops the emulators again. To run tests against emulators you
// started yourself, export the two variables (for example
// FIRESTORE_EMULATOR_HOST=127.0.0.1:8681 and PUBSUB_EMULATOR_HOST=127.0.0.1:8685).
//
// Without the variables, emulator tests are skipped on a workstation so that
// "go test ./..." stays useful, but fail in CI (CI=true) or when
// GEMINIHOOKS_REQUIRE_EMULATORS=true: a missing emulator there is a broken
// pipeline, and a skip would hide it.
//
// Emulators are shared by every test package, so all helpers create
// resources with names unique to the test (see UniqueName) and remove them in
// t.Cleanup.
package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihooks/geminihooks/pkg/config"
)

const (
	// DefaultProject is the project id used when GOOGLE_CLOUD_PROJECT is
	// unset. The emulators accept any project id.
	DefaultProject = "geminihooks-test"

	// RequireEnv, when true, turns a missing emulator into a test failure
	// even outside CI.
	RequireEnv = "GEMINIHOOKS_REQUIRE_EMULATORS"
)

// Project returns the project id emulator clients use: GOOGLE_CLOUD_PROJECT,
// or DefaultProject.
func Project() string {
	if p := os.Getenv(config.EnvGoogleCloudProject); p != "" {
		return p
	}
	return DefaultProject
}

// Firestore returns a client bound to the Firestore emulator, closed when the
// test ends. It skips or fails the test when the emulator is not configured.
func Firestore(t testing.TB) *firestore.Client {
	t.Helper()
	requireEmulator(t, config.EnvFirestoreEmulatorHost)
	// Not t.Context(): it is cancelled before cleanups run, and the client
	// must outlive the test body.
	c, err := firestore.NewClient(context.Background(), Project())
	if err != nil {
		t.Fatalf("failed to create Firestore emulator client: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("failed to close Firestore client: %v", err)
		}
	})
	return c
}

// PubSub returns a client bound to the Pub/Sub emulator, closed when the test
// ends. It skips or fails the test when the emulator is not configured.
func PubSub(t testing.TB) *pubsub.Client {
	t.Helper()
	requireEmulator(t, config.EnvPubSubEmulatorHost)
	c, err := pubsub.NewClient(context.Background(), Project())
	if err != nil {
		t.Fatalf("failed to create Pub/Sub emulator client: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("failed to close Pub/Sub client: %v", err)
		}
	})
	return c
}

// requireEmulator skips the test when env is unset, or fails it when
// emulators are mandatory (see the package doc).
func requireEmulator(t testing.TB, env string) {
	t.Helper()
	if os.Getenv(env) != "" {
		return
	}
	if required() {
		t.Fatalf("%s is not set but emulators are required here (CI or %s=true); "+
			"start them with scripts/test.sh", env, RequireEnv)
	}
	t.Skipf("%s is not set; run scripts/test.sh to start the emulators and run this test", env)
}

func required() bool {
	for _, env := range []string{"CI", RequireEnv} {
		if v, err := strconv.ParseBool(os.Getenv(env)); err == nil && v {
			return true
		}
	}
	return false
}

// maxNameBase bounds the part of a unique name derived from the test name,
// keeping names well inside Pub/Sub's 255-character limit.
const maxNameBase = 80

// UniqueName returns prefix, the sanitized test name and a random suffix,
// joined by "-": for example "deliveries-testclaim-first-3f9a01c2". The result
// uses only [a-z0-9-], starts with a letter, and is a valid Firestore
// collection id and Pub/Sub topic or subscription id.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	base := sanitize(prefix + "-" + t.Name())
	if len(base) > maxNameBase {
		base = strings.TrimRight(base[:maxNameBase], "-")
	}
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "t-" + base
	}
	return fmt.Sprintf("%s-%08x", base, rand.Uint32())
}

// sanitize lowercases s, maps every run of other characters to one "-" and
// trims dashes at both ends.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}
