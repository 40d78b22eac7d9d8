package terraform_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// The Cloud Functions Go buildpack (GoogleCloudPlatform/buildpacks,
// cmd/go/functions_framework) turns the uploaded source into an application:
// it moves the source into serverless_function_source_code, reads the
// package name and the imports of the Go files at its root, writes a main
// package at functions.local/app inside the module, runs go mod tidy and go
// build. When the root package imports the functions package it uses the
// declarative template, which blank-imports the root package and serves
// whatever FUNCTION_TARGET names from the functions-framework registry;
// otherwise it uses a template that calls the root package's function named
// by the target directly.
const (
	buildpackSourceDir      = "serverless_function_source_code"
	buildpackAppDir         = "functions.local/app"
	frameworkFunctionsPkg   = "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	buildStartTimeout       = 30 * time.Second
	buildpackDeclarativeTpl = `// Command app serves the functions registered by {{.Package}}, selected by
// FUNCTION_TARGET, as the buildpack's generated main does.
package main

import (
	"log"
	"os"

	_ "{{.Package}}"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %v", err)
	}
}
`
	buildpackSignatureTpl = `// Command app serves {{.Package}}.{{.Target}} directly, as the buildpack's
// generated main does for a root package that does not import the functions
// package.
package main

import (
	"context"
	"log"
	"os"

	userfunction "{{.Package}}"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	if err := funcframework.RegisterHTTPFunctionContext(context.Background(), "/", userfunction.{{.Target}}); err != nil {
		log.Fatalf("Function failed to register: %v", err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %v", err)
	}
}
`
)

// TestBuildpackBuildServesEntryPoints builds the functions from exactly the
// files terraform apply uploads, as the buildpack does, and starts the binary
// once per deployed entry point. It catches a source archive that leaves out
// something the build needs, a root package the buildpack cannot turn into
// an application, and an entry point the functions-framework registry does
// not know.
func TestBuildpackBuildServesEntryPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole module; skipped with -short")
	}
	t.Parallel()
	m := loadModule(t)

	var targets []string
	for _, fn := range m.resources("google_cloudfunctions2_function") {
		ep, ok := literal(attr(firstNested(fn.Body, "build_config").Body, "entry_point"))
		if !ok {
			t.Fatalf("%s: entry_point must be a constant", fnRef(fn))
		}
		targets = append(targets, ep)
	}
	if len(targets) == 0 {
		t.Fatal("no google_cloudfunctions2_function is declared")
	}

	bin := buildLikeBuildpack(t, m, targets)

	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			f := startServing(t, bin, target)
			assertMethodNotAllowed(t, f.url)
		})
	}
	t.Run("unregistered_target", func(t *testing.T) {
		t.Parallel()
		// Proves the binary looks FUNCTION_TARGET up in the framework's
		// registry, so the cases above mean the entry points are registered.
		f := startFunction(t, bin, "NotARegisteredFunction")
		err := f.waitExit(t)
		if err == nil || !strings.Contains(f.output(), "no matching function") {
			t.Errorf("starting an unregistered target: err %v, output:\n%s\nwant a failure naming no matching function", err, f.output())
		}
	})
}

// buildLikeBuildpack copies the archive's files, generates the buildpack's
// main and builds it. It returns the binary; one build serves every target
// (the declarative template does not depend on the target).
func buildLikeBuildpack(t *testing.T, m *module, targets []string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the functions: %v", err)
	}
	dir, excludes := m.sourceArchive(t)
	work := t.TempDir()
	src := filepath.Join(work, buildpackSourceDir)
	for _, f := range archiveFiles(t, dir, excludes) {
		copyFile(t, filepath.Join(dir, filepath.FromSlash(f)), filepath.Join(src, filepath.FromSlash(f)))
	}

	pkgName, imports := rootPackage(t, src)
	pkg := modulePath(t, src)
	if info, err := os.Stat(filepath.Join(src, pkgName)); err == nil && info.IsDir() {
		pkg += "/" + pkgName // the buildpack's own rule for a same-named directory
	}
	declarative := slices.Contains(imports, frameworkFunctionsPkg)
	tpl := buildpackSignatureTpl
	if declarative {
		tpl = buildpackDeclarativeTpl
	}

	mainDir := filepath.Join(src, filepath.FromSlash(buildpackAppDir))
	if err := os.MkdirAll(mainDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var main bytes.Buffer
	if err := template.Must(template.New("main").Parse(tpl)).Execute(&main, map[string]string{"Package": pkg, "Target": targets[0]}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mainDir, "main.go"), main.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(work, "function")
	// The buildpack runs go mod tidy first, which needs the network;
	// -mod=mod resolves the same requirements from the module cache.
	// -trimpath keeps the build cache valid across temporary directories.
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-trimpath", "-o", bin, "./"+buildpackAppDir)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		hint := ""
		if !declarative {
			hint = fmt.Sprintf("\nThe root package %s does not import %s, so the buildpack generates a main that calls %s.%s directly. "+
				"Functions registered with functions.HTTP in other packages are only served when the root package imports the functions package "+
				"(a blank import is enough).", pkg, frameworkFunctionsPkg, pkgName, targets[0])
		}
		t.Fatalf("building the uploaded source as the buildpack does failed: %v\n%s%s", err, out, hint)
	}
	return bin
}

// rootPackage returns the package name and the imports of the Go files at
// dir's top level, as the buildpack's package scan reads them.
func rootPackage(t testing.TB, dir string) (string, []string) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Go files at the root of the uploaded source; the buildpack needs the function package there (err %v)", err)
	}
	pkgName := ""
	var imports []string
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("failed to parse %s: %v", name, err)
		}
		if pkgName != "" && f.Name.Name != pkgName {
			t.Fatalf("the root of the uploaded source holds packages %s and %s; the buildpack refuses that", pkgName, f.Name.Name)
		}
		pkgName = f.Name.Name
		for _, im := range f.Imports {
			p, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			imports = append(imports, p)
		}
	}
	return pkgName, imports
}

// modulePath reads the module path from dir/go.mod.
func modulePath(t testing.TB, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatalf("the uploaded source has no go.mod: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	t.Fatal("go.mod has no module directive")
	return ""
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// runningFunction is a started function binary.
type runningFunction struct {
	url  string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan error
}

// startFunction starts bin serving target on a free loopback port, with the
// configuration a local run uses: signing secrets from the environment and
// emulator hosts, so start-up creates clients without credentials. Nothing is
// called until a request needs it.
func startFunction(t *testing.T, bin, target string) *runningFunction {
	t.Helper()
	port := freePort(t)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	emulator := func(name string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return "127.0.0.1:9" // never dialled during start-up
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"FUNCTION_TARGET=" + target,
		"PORT=" + strconv.Itoa(port),
		"GOOGLE_CLOUD_PROJECT=geminihooks-build-test",
		"FIRESTORE_EMULATOR_HOST=" + emulator("FIRESTORE_EMULATOR_HOST"),
		"PUBSUB_EMULATOR_HOST=" + emulator("PUBSUB_EMULATOR_HOST"),
		"STORAGE_EMULATOR_HOST=127.0.0.1:9",
		"WEBHOOK_SIGNING_SECRETS=whsec_" + base64.StdEncoding.EncodeToString(secret),
		"GEMINI_API_KEY=build-test-key",
		"RESULTS_BUCKET=geminihooks-build-test",
		// No credentials to export spans to Cloud Trace with: print them.
		"OTEL_TRACES_EXPORTER=console",
	}
	f := &runningFunction{url: "http://127.0.0.1:" + strconv.Itoa(port) + "/", cmd: cmd, out: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start %s: %v", target, err)
	}
	go func() { f.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-f.done
		if t.Failed() {
			t.Logf("%s output:\n%s", target, f.output())
		}
	})
	return f
}

func (f *runningFunction) output() string { return f.out.String() }

// startServing starts bin serving target and waits until it accepts
// connections. A function that exits because another process bound its port
// first is started again on another.
func startServing(t *testing.T, bin, target string) *runningFunction {
	t.Helper()
	const attempts = 3
	for range attempts {
		f := startFunction(t, bin, target)
		err := f.waitServing(t)
		if err == nil {
			return f
		}
		if !strings.Contains(f.output(), "address already in use") {
			t.Fatalf("the function exited during start-up: %v", err)
		}
	}
	t.Fatalf("the function found its port taken %d times", attempts)
	return nil
}

// waitServing waits until the function accepts connections, or returns the
// error it exited with during start-up.
func (f *runningFunction) waitServing(t *testing.T) error {
	t.Helper()
	deadline := time.Now().Add(buildStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-f.done:
			f.done <- err
			if err == nil {
				err = errors.New("exited with status 0")
			}
			return err
		default:
		}
		if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(f.url, "/"), "http://"), time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the function did not listen within %s", buildStartTimeout)
	return nil
}

// waitExit waits for the function to exit and returns its error.
func (f *runningFunction) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		f.done <- err
		return err
	case <-time.After(buildStartTimeout):
		t.Fatalf("the function kept running for %s", buildStartTimeout)
		return nil
	}
}

// assertMethodNotAllowed checks that the function's own handler answers: both
// functions accept only POST and say so in JSON.
func assertMethodNotAllowed(t *testing.T, url string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: buildStartTimeout}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &got) != nil || got.Error.Code != "method_not_allowed" {
		t.Errorf("GET %s = %d %q %s, want 405 application/json with error code method_not_allowed", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// freePort returns a loopback port that is free now, from below the kernel's
// ephemeral range when it can: the port is released before the function
// binds it, and ports from that range are what every listener on port 0 and
// every outgoing connection are handed meanwhile.
func freePort(t testing.TB) int {
	t.Helper()
	const lowest = 10000
	if low := ephemeralLow(); low > lowest {
		for range 20 {
			port := lowest + mrand.IntN(low-lowest)
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				_ = l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ephemeralLow is the first port of Linux's ephemeral range, or 0 where it
// cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	low, _ := strconv.Atoi(fields[0])
	return low
}
