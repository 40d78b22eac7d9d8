package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// emulatorStartTimeout bounds a private emulator's start, JVM included.
const emulatorStartTimeout = 90 * time.Second

// PrivatePubSub starts a Pub/Sub emulator for the calling test alone and
// returns its host:port; it is stopped when the test ends. Tests that reset
// or restart the emulator need one: the shared emulator serves every test
// package at once. Like PubSub, it skips (or fails in CI) when the emulators
// are not configured; it also needs gcloud and java, as scripts/emulators.sh
// does.
func PrivatePubSub(t testing.TB) string {
	t.Helper()
	requireEmulator(t, config.EnvPubSubEmulatorHost)
	for _, tool := range []string{"gcloud", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			if required() {
				t.Fatalf("a private Pub/Sub emulator needs %s: %v", tool, err)
			}
			t.Skipf("a private Pub/Sub emulator needs %s: %v", tool, err)
		}
	}
	addr := freeAddr(t)
	var log SyncBuffer
	cmd := exec.Command("gcloud", "beta", "emulators", "pubsub", "start",
		"--project="+Project(), "--host-port="+addr, "--quiet")
	cmd.Stdout, cmd.Stderr = &log, &log
	// gcloud starts python, bash and java: a group of their own lets the
	// cleanup stop them all, or java lives on, bound to the port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start the Pub/Sub emulator: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	if err := awaitEmulator(addr, exited); err != nil {
		t.Fatalf("the Pub/Sub emulator at %s did not start: %v; its output:\n%s", addr, err, log.String())
	}
	return addr
}

// ResetPubSub wipes every topic and subscription of the emulator at addr,
// as a restart does.
func ResetPubSub(t testing.TB, addr string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/reset", "", nil)
	if err != nil {
		t.Fatalf("failed to reset the Pub/Sub emulator: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset of the Pub/Sub emulator answered %s", resp.Status)
	}
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// awaitEmulator polls addr until the emulator answers "Ok", as
// scripts/emulators.sh does.
func awaitEmulator(addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), emulatorStartTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) == "Ok" {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
