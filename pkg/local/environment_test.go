package local

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStart_geminiChoice: GEMINI_API_KEY alone never switches the runner to
// the real API; Options.RealGemini does, and needs the key.
func TestStart_geminiChoice(t *testing.T) {
	t.Parallel()
	simPort := freePort(t)
	tests := []struct {
		name        string
		env         map[string]string
		opts        Options
		wantErr     string
		wantSim     bool
		wantIgnored bool
	}{
		{name: "simulator", env: map[string]string{}, opts: Options{SimAddr: "127.0.0.1:" + strconv.Itoa(simPort)}, wantSim: true},
		{name: "key_set_simulator_still", env: map[string]string{config.EnvGeminiAPIKey: "real-key"}, wantSim: true, wantIgnored: true},
		{name: "real_without_key", env: map[string]string{}, opts: Options{RealGemini: true}, wantErr: config.EnvGeminiAPIKey},
		{name: "real_with_key", env: map[string]string{config.EnvGeminiAPIKey: "real-key"}, opts: Options{RealGemini: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Addr, opts.Lookuper, opts.DataDir = "127.0.0.1:0", envconfig.MapLookuper(tc.env), t.TempDir()
			opts.Logger = logging.New(&bytes.Buffer{}, slog.LevelError)
			stack, err := Start(t.Context(), opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Start: %v; want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = stack.Close() })
			if (stack.Sim != nil) != tc.wantSim || stack.GeminiKeyIgnored != tc.wantIgnored {
				t.Errorf("simulator %v, key ignored %v; want %v, %v", stack.Sim != nil, stack.GeminiKeyIgnored, tc.wantSim, tc.wantIgnored)
			}
			if opts.SimAddr != "" && stack.Sim.URL() != "http://"+opts.SimAddr {
				t.Errorf("simulator at %s, want %s", stack.Sim.URL(), opts.SimAddr)
			}
			got := map[string]string{}
			var names []string
			for _, v := range stack.Environment() {
				got[v.Name] = v.Value
				names = append(names, v.Name)
			}
			want := []string{config.EnvSigningSecrets, config.EnvSigningSecretFile, config.EnvPubSubEmulatorHost, config.EnvGoogleCloudProject, config.EnvJWKSURL}
			if tc.wantSim {
				want = append([]string{config.EnvGeminiBaseURL, config.EnvGeminiAPIKey}, want...)
				if got[config.EnvGeminiBaseURL] != stack.Sim.URL() || got[config.EnvGeminiAPIKey] == "" || got[config.EnvGeminiAPIKey] == "real-key" {
					t.Errorf("exported Gemini API %q with key %q; want the simulator's", got[config.EnvGeminiBaseURL], got[config.EnvGeminiAPIKey])
				}
				if got[config.EnvJWKSURL] != stack.Sim.URL()+"/.well-known/jwks.json" {
					t.Errorf("exported JWKS %q; want the simulator's", got[config.EnvJWKSURL])
				}
			}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("exports %v, want %v", names, want)
			}
			if got[config.EnvSigningSecrets] != stack.Secret || got[config.EnvPubSubEmulatorHost] == "" || got[config.EnvGoogleCloudProject] != DefaultProject ||
				got[config.EnvSigningSecretFile] != stack.SecretFile.Path() {
				t.Errorf("exports %v", names)
			}
		})
	}
}
