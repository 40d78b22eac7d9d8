package config

// Names of the environment variables that code outside a function's Config
// reads or sets: the operator tool, the local runner, logging and tests. The
// Config structs name the same variables in their env tags, which cannot
// refer to constants; a test keeps each constant equal to its tag.
const (
	// Both functions.
	EnvGoogleCloudProject = "GOOGLE_CLOUD_PROJECT"
	EnvResultsBucket      = "RESULTS_BUCKET"
	EnvLogLevel           = "LOG_LEVEL"
	// Tracing (tracing.Config), read by every function, under
	// OpenTelemetry's names.
	EnvTracesExporter   = "OTEL_TRACES_EXPORTER"
	EnvTracesSampler    = "OTEL_TRACES_SAMPLER"
	EnvTracesSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
	// The job registry (package registry), which every function and the
	// operator tool's submit and watch share.
	EnvJobsCollection = "JOBS_COLLECTION"
	EnvJobsTTL        = "JOBS_TTL"

	// The receiver (receiver.Config).
	EnvSigningSecrets     = "WEBHOOK_SIGNING_SECRETS"
	EnvSigningSecret      = "WEBHOOK_SIGNING_SECRET"
	EnvJWKSURL            = "WEBHOOK_JWKS_URL"
	EnvJWTAudience        = "WEBHOOK_JWT_AUDIENCE"
	EnvJWTIssuer          = "WEBHOOK_JWT_ISSUER"
	EnvTimestampTolerance = "WEBHOOK_TIMESTAMP_TOLERANCE"
	EnvEventsTopic        = "EVENTS_TOPIC"

	// The materializer (materializer.Config).
	EnvGeminiAPIKey        = "GEMINI_API_KEY"
	EnvGeminiBaseURL       = "GEMINI_BASE_URL"
	EnvGeminiDownloadHosts = "GEMINI_DOWNLOAD_HOSTS"
	EnvResultsTopic        = "RESULTS_TOPIC"
	EnvResultsPrefix       = "RESULTS_PREFIX"

	// The reconciler (reconciler.Config).
	EnvReconcileGrace = "RECONCILE_GRACE"

	// The operator tool only: the deployed receiver's URL, where submit
	// points the jobs it creates (terraform output webhook_url).
	EnvWebhookURL = "WEBHOOK_URL"

	// EnvSigningSecretFile names the file that stands in for the Secret
	// Manager secret of WEBHOOK_SIGNING_SECRET where there is none: the
	// local runner keeps one in its data directory and accepts every
	// version in it, and the operator tool's webhooks create and rotate
	// add the secrets Gemini issues to it (verify and listen try them).
	EnvSigningSecretFile = "WEBHOOK_SIGNING_SECRET_FILE"

	// The local runner only: the loopback port of its inspector page
	// (default 4040).
	EnvInspectPort = "INSPECT_PORT"

	// Emulator endpoints (host:port) of Google's client libraries.
	EnvFirestoreEmulatorHost = "FIRESTORE_EMULATOR_HOST"
	EnvPubSubEmulatorHost    = "PUBSUB_EMULATOR_HOST"
	EnvStorageEmulatorHost   = "STORAGE_EMULATOR_HOST"
	// EnvSecretManagerEmulatorHost points the operator tool's Secret
	// Manager client at a plaintext, unauthenticated endpoint, as
	// PUBSUB_EMULATOR_HOST does for Pub/Sub. Google ships no Secret Manager
	// emulator; this serves in-process fakes and private test endpoints.
	EnvSecretManagerEmulatorHost = "SECRET_MANAGER_EMULATOR_HOST"
)
