package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/storage"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/api/option"
	"google.golang.org/genai"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// projectID returns flagValue, else GOOGLE_CLOUD_PROJECT, else a usage error.
func projectID(env *Env, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := env.Getenv(config.EnvGoogleCloudProject); p != "" {
		return p, nil
	}
	return "", usageErrorf("no project: pass --project or set %s", config.EnvGoogleCloudProject)
}

// projectOf returns the project of a full resource name, or "".
func projectOf(name string) string {
	if rest, ok := strings.CutPrefix(name, "projects/"); ok {
		p, _, _ := strings.Cut(rest, "/")
		return p
	}
	return ""
}

// emulatorOptions returns the client options that reach a plaintext,
// unauthenticated emulator at host.
func emulatorOptions(host string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// newPubSubClient connects to Pub/Sub, or to the emulator named by
// PUBSUB_EMULATOR_HOST in env (the client library reads only the process
// environment; tests pass theirs through Env).
func newPubSubClient(ctx context.Context, env *Env, project string) (*pubsub.Client, error) {
	var opts []option.ClientOption
	if host := env.Getenv(config.EnvPubSubEmulatorHost); host != "" {
		opts = emulatorOptions(host)
	}
	c, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create Pub/Sub client: %w", err)
	}
	return c, nil
}

// newStorageClient connects to Cloud Storage, or to the emulator named by
// STORAGE_EMULATOR_HOST in env ("host:port" or a URL).
func newStorageClient(ctx context.Context, env *Env) (*storage.Client, error) {
	var opts []option.ClientOption
	if host := env.Getenv(config.EnvStorageEmulatorHost); host != "" {
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		// JSON reads: emulators such as fake-gcs-server serve XML API reads
		// only on their public host name.
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(host, "/")+"/storage/v1/"),
			option.WithoutAuthentication(), storage.WithJSONReads())
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create Cloud Storage client: %w", err)
	}
	return c, nil
}

// newSecretManagerClient connects to Secret Manager, or to the plaintext
// endpoint named by SECRET_MANAGER_EMULATOR_HOST in env.
func newSecretManagerClient(ctx context.Context, env *Env) (*secretmanager.Client, error) {
	var opts []option.ClientOption
	if host := env.Getenv(config.EnvSecretManagerEmulatorHost); host != "" {
		opts = emulatorOptions(host)
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create Secret Manager client: %w", err)
	}
	return c, nil
}

// newGeminiClient returns a genai SDK client of the Gemini API configured by
// GEMINI_API_KEY and GEMINI_BASE_URL.
func newGeminiClient(ctx context.Context, env *Env) (*genai.Client, error) {
	key := env.Getenv(config.EnvGeminiAPIKey)
	if key == "" {
		return nil, usageErrorf("%s is not set: this command calls the Gemini API with it", config.EnvGeminiAPIKey)
	}
	base := env.Getenv(config.EnvGeminiBaseURL)
	if base == "" {
		base = gemini.DefaultBaseURL
	}
	if _, err := gemini.ParseBaseURL(base); err != nil {
		return nil, usageErrorf("%s: %v", config.EnvGeminiBaseURL, err)
	}
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:     key,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: env.HTTP(),
		HTTPOptions: genai.HTTPOptions{
			BaseURL: strings.TrimSuffix(base, "/"), APIVersion: gemini.APIVersion, Timeout: genai.Ptr(geminiTimeout),
		},
	})
	if err != nil {
		// The error may quote the configuration; say only what failed.
		return nil, errors.New("failed to create the Gemini API client")
	}
	return c, nil
}

// newJobFetcher returns the client that reads jobs back from the Gemini API
// (GEMINI_API_KEY, GEMINI_BASE_URL): the materializer's, with its strict
// checks of job names and its retries of transient failures.
func newJobFetcher(ctx context.Context, env *Env) (*gemini.Client, error) {
	key := env.Getenv(config.EnvGeminiAPIKey)
	if key == "" {
		return nil, usageErrorf("%s is not set: this command calls the Gemini API with it", config.EnvGeminiAPIKey)
	}
	c, err := gemini.New(ctx, gemini.Options{
		BaseURL: env.Getenv(config.EnvGeminiBaseURL), APIKey: key, HTTPClient: env.HTTPClient,
	})
	if err != nil {
		return nil, usageErrorf("%s or %s: %v", config.EnvGeminiAPIKey, config.EnvGeminiBaseURL, err)
	}
	return c, nil
}

// deploymentConfig reads the functions' variables from env with the
// functions' own defaults, without requiring what only the functions need:
// the operator tool shares their project, Firestore database, job registry
// and results topic.
func deploymentConfig(ctx context.Context, env *Env) (*materializer.Config, error) {
	var cfg materializer.Config
	lookup := envconfig.LookuperFunc(func(key string) (string, bool) {
		if env.Lookup == nil {
			return "", false
		}
		return env.Lookup(key)
	})
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: lookup}); err != nil {
		return nil, usageErrorf("failed to read the configuration: %v", err)
	}
	return &cfg, nil
}

// jobRegistry is the job registry as the operator tool opens it.
type jobRegistry struct {
	*registry.Registry
	// where names it for messages: "Firestore collection jobs in project P".
	where string
	close func() error
}

// registryCheckTimeout bounds check: an unreachable Firestore otherwise
// takes its client a minute to report.
const registryCheckTimeout = 15 * time.Second

// check reads the registry once, so that a wrong project, a missing
// credential or an unreachable emulator is found before a job is created,
// not after. The job it reads need not exist.
func (r *jobRegistry) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, registryCheckTimeout)
	defer cancel()
	if _, _, err := r.Get(ctx, event.JobRef{Kind: event.KindBatch, ID: "geminihooks-check"}); err != nil {
		return fmt.Errorf("failed to read the job registry (%s), so nothing was created: %w", r.where, err)
	}
	return nil
}

// openJobRegistry connects to the job registry the functions share: the
// JOBS_COLLECTION collection of Firestore database FIRESTORE_DATABASE in
// project (GOOGLE_CLOUD_PROJECT when empty), or of the emulator named by
// FIRESTORE_EMULATOR_HOST in env. The caller closes it.
func openJobRegistry(ctx context.Context, env *Env, project string) (*jobRegistry, error) {
	project, err := projectID(env, project)
	if err != nil {
		return nil, err
	}
	cfg, err := deploymentConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := cfg.Jobs.Validate(); err != nil {
		return nil, usageErrorf("%s/%s: %v", config.EnvJobsCollection, config.EnvJobsTTL, err)
	}
	var opts []option.ClientOption
	closeConn := func() error { return nil }
	host := env.Getenv(config.EnvFirestoreEmulatorHost)
	if host != "" {
		// The connection is dialled here: the client library would dial
		// the emulator of the process environment instead of env's.
		conn, err := grpc.NewClient(host, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(firestoreEmulatorOwner{}))
		if err != nil {
			return nil, usageErrorf("%s=%s: %v", config.EnvFirestoreEmulatorHost, host, err)
		}
		opts = []option.ClientOption{option.WithGRPCConn(conn)}
		closeConn = func() error {
			// The client may have closed the connection it was handed.
			if err := conn.Close(); status.Code(err) != codes.Canceled {
				return err
			}
			return nil
		}
	}
	client, err := firestore.NewClientWithDatabase(ctx, project, cfg.FirestoreDatabase, opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("failed to create Firestore client: %w", err), closeConn())
	}
	closeAll := func() error { return errors.Join(client.Close(), closeConn()) }
	reg, err := registry.NewFirestore(client, cfg.Jobs.Options())
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	where := fmt.Sprintf("Firestore collection %s in project %s", cfg.Jobs.Collection, project)
	if cfg.FirestoreDatabase != firestore.DefaultDatabaseID {
		where = fmt.Sprintf("Firestore collection %s of database %s in project %s", cfg.Jobs.Collection, cfg.FirestoreDatabase, project)
	}
	if host != "" {
		where += " (emulator at " + host + ")"
	}
	return &jobRegistry{Registry: reg, where: where, close: closeAll}, nil
}

// firestoreEmulatorOwner is the Firestore emulator's admin credential, which
// the client library sends when it finds the emulator in the process
// environment itself.
type firestoreEmulatorOwner struct{}

func (firestoreEmulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (firestoreEmulatorOwner) RequireTransportSecurity() bool { return false }
