package inspect_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/inspect"
	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// browser returns the path of Chromium, skipping the test when there is
// none unless GEMINIHOOKS_REQUIRE_BROWSER=true (scripts/test.sh sets it
// with CI=true).
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("GEMINIHOOKS_REQUIRE_BROWSER") == "true" {
		t.Fatal("Chromium is required (GEMINIHOOKS_REQUIRE_BROWSER=true) but not installed: apt-get install chromium")
	}
	t.Skip("Chromium not installed: apt-get install chromium")
	return ""
}

// TestBrowser_liveDeliveriesAndAJobsReport drives the page in headless
// Chromium against a whole local stack: three deliveries (one badly
// signed) appear with their verdicts without a reload, a replay shows
// duplicate, and a Deep Research job's page shows its rendered report. It
// saves screenshots at 1280 and 390 pixels wide in the test's artifact
// directory (go test -artifacts keeps them; scripts/test.sh puts them under
// testdata/out/).
func TestBrowser_liveDeliveriesAndAJobsReport(t *testing.T) {
	chromium := browser(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	log, err := inspect.NewLog(inspect.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	// The in-memory backends: the page, not the emulators, is under test.
	noEmulators := local.Options{Addr: "127.0.0.1:0", Logger: logger, DataDir: t.TempDir(),
		Lookuper: envconfig.MapLookuper(map[string]string{}), Observer: log}
	stack, err := local.Start(ctx, noEmulators)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Error(err)
		}
	})
	verifier, err := stack.Verifier(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log.Explain(verifier)
	h, err := inspect.NewHandler(inspect.Options{Log: log, DataDir: stack.DataDir, Actions: stack, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(h)
	defer page.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	// The page is open and listening before anything is delivered.
	run(t, bctx, chromedp.Navigate(page.URL), chromedp.WaitVisible(css("#live.on")))

	if _, err := stack.SendTest(ctx, event.TypeInteractionCompleted); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.SendTest(ctx, event.TypeBatchSucceeded); err != nil {
		t.Fatal(err)
	}
	badlySigned(t, ctx, stack.URL)

	run(t, bctx, waitFor(`document.querySelectorAll("#deliveries tbody.delivery").length === 3`))
	verdicts := value(t, bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#deliveries .verdict")].map(e => e.textContent)`))
	if got := strings.Join(verdicts, " | "); got != "401 signature_mismatch | 200 accepted | 200 accepted" {
		t.Errorf("verdicts newest first: %q", got)
	}

	// A rejected delivery's details say why, from the keyboard.
	run(t, bctx,
		chromedp.Focus(css(`#deliveries tbody.bad button[data-toggle]`)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css(`#deliveries tbody.bad .why`)))
	why := value(t, bctx, chromedp.Text(css(`#deliveries tbody.bad .why`)))
	if !strings.Contains(why, "signature_mismatch: none of 1 v1 signatures matched") {
		t.Errorf("the bad delivery's explanation is %q", why)
	}
	check := value(t, bctx, chromedp.Text(css(`#deliveries tbody.bad .why-check`)))
	for _, want := range []string{"FAILED", "signature_mismatch", "secrets tried", "WEBHOOK_SIGNING_SECRETS"} {
		if !strings.Contains(check, want) {
			t.Errorf("the signature check %q lacks %q", check, want)
		}
	}

	// Replaying the first delivery is answered duplicate.
	run(t, bctx,
		chromedp.Click(css(`#d-1 button[data-toggle]`)),
		chromedp.Click(css(`#d-1 button[data-replay]`)),
		waitFor(`document.querySelectorAll("#deliveries tbody.delivery").length === 4`))
	why = value(t, bctx, chromedp.Text(css(`#d-4 .verdict`)))
	if why != "200 duplicate" {
		t.Errorf("the replay's verdict is %q, want 200 duplicate", why)
	}

	// Results land; the job's page renders its report.
	run(t, bctx, waitFor(`[...document.querySelectorAll("#jobs tr")].some(r => r.textContent.includes("interactions/") && r.textContent.includes("results.stored"))`))
	run(t, bctx,
		chromedp.Click(css(`#jobs a[href*="interactions"]`)),
		chromedp.WaitVisible(css(`.report h2`)))
	heading := value(t, bctx, chromedp.Text(css(`.report h2`)))
	if heading != "Findings" {
		t.Errorf("the report's first heading is %q, want Findings", heading)
	}
	links := value(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('.report a[href^="https://"]').length`))
	if links == 0 {
		t.Error("the rendered report has no citation links")
	}
	// Its timeline has the materializer's steps, and follows the job live:
	// a replay of its delivery shows up without a reload.
	run(t, bctx, waitFor(`document.querySelector(".timeline").textContent.includes("manifest.json")`))
	timeline := value(t, bctx, chromedp.Text(css(`.timeline`)))
	for _, want := range []string{"webhook received", "event published", "job fetched", "object stored report.md", "object stored manifest.json", "results announced"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the job's timeline %q lacks %q", timeline, want)
		}
	}
	steps := value(t, bctx, chromedp.Evaluate[int](`window.notReloaded = true; document.querySelectorAll(".timeline li").length`))
	act(t, ctx, page.URL+"/actions/replay", "seq=1")
	run(t, bctx, waitFor(fmt.Sprintf(`document.querySelectorAll(".timeline li").length === %d`, steps+1)))
	if !value(t, bctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the job page reloaded to show the new step")
	}
	shot(t, bctx, "job-1280.png")
	run(t, bctx, chromedp.Navigate(page.URL), chromedp.WaitVisible(css("#live.on")))
	shot(t, bctx, "index-1280.png")

	// A phone's width: nothing scrolls sideways.
	const sideways = `document.documentElement.scrollWidth > window.innerWidth`
	run(t, bctx, chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(css("#live.on")))
	shot(t, bctx, "index-390.png")
	if value(t, bctx, chromedp.Evaluate[bool](sideways)) {
		t.Error("the deliveries page scrolls sideways at 390 px")
	}
	run(t, bctx, chromedp.Click(css(`#jobs a[href*="interactions"]`)), chromedp.WaitVisible(css(`.report h2`)))
	shot(t, bctx, "job-390.png")
	if value(t, bctx, chromedp.Evaluate[bool](sideways)) {
		t.Error("the job page scrolls sideways at 390 px")
	}
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// value runs a to get its value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor waits until the expression is true in the page.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// shot saves a full-page PNG screenshot in the test's artifact directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := value(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o600); err != nil {
		t.Fatal(err)
	}
}

// act posts form to one of the page's actions, as its buttons do.
func act(t *testing.T, ctx context.Context, url, form string) {
	t.Helper()
	post(t, ctx, url, form, http.StatusOK, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Inspector": "1"})
}

// badlySigned delivers a notification whose signature does not match.
func badlySigned(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	body := `{"type":"batch.succeeded","version":"v1","timestamp":"2026-06-01T08:00:00Z","data":{"id":"batches/forged"}}`
	post(t, ctx, url, body, http.StatusUnauthorized, map[string]string{signature.HeaderID: "msg_forged",
		signature.HeaderTimestamp: strconv.FormatInt(time.Now().Unix(), 10),
		signature.HeaderSignature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
}

// post sends body to url with header and fails t unless it is answered
// want.
func post(t *testing.T, ctx context.Context, url, body string, want int, header map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s was answered %d, want %d", url, resp.StatusCode, want)
	}
}
