package cli

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/pkg/config"
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

// resourceName returns name as a full resource name: a short id becomes
// projects/<project>/<collection>/<id>; a full name is returned as is.
func resourceName(project, collection, name string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return "projects/" + project + "/" + collection + "/" + name
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
