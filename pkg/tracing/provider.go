package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/oauth"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// Exporters of Config.Exporter: OpenTelemetry's names for OTEL_TRACES_EXPORTER.
const (
	// ExporterOTLP sends spans over OTLP/gRPC to Cloud Trace, through the
	// Telemetry API (TelemetryEndpoint), with the function's own
	// credentials.
	ExporterOTLP = "otlp"
	// ExporterConsole writes one line per span to stdout.
	ExporterConsole = "console"
	// ExporterNone records no spans; incoming trace context still reaches
	// the log lines.
	ExporterNone = "none"
)

// TelemetryEndpoint is Google Cloud's OTLP endpoint (the Telemetry API),
// which stores spans in Cloud Trace. The service account needs
// roles/cloudtrace.agent (telemetry.traces.write).
const TelemetryEndpoint = "telemetry.googleapis.com:443"

// Samplers of Config.Sampler: OpenTelemetry's names for OTEL_TRACES_SAMPLER.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Config is the tracing configuration every function reads from the
// environment, under OpenTelemetry's variable names. The resource may be
// amended through OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which the
// SDK reads itself.
type Config struct {
	// Exporter is otlp (Cloud Trace), console or none.
	Exporter string `env:"OTEL_TRACES_EXPORTER, default=otlp"`
	// Sampler is one of OpenTelemetry's samplers. The default,
	// traceidratio, decides by the trace id alone, so every function of a
	// job's journey decides alike, whatever Cloud Run's front end sampled
	// for the request that carried it.
	Sampler string `env:"OTEL_TRACES_SAMPLER, default=traceidratio"`
	// SamplerArg is the ratio of the *traceidratio samplers, 0 to 1.
	SamplerArg float64 `env:"OTEL_TRACES_SAMPLER_ARG, default=1"`
	// The batching of spans for export (BatchOptions), under the names
	// and in the units (milliseconds) of OpenTelemetry's batch span
	// processor; zero takes its default, and a batch larger than the
	// queue is the queue's size.
	BatchDelayMS    int `env:"OTEL_BSP_SCHEDULE_DELAY, default=5000"`
	ExportTimeoutMS int `env:"OTEL_BSP_EXPORT_TIMEOUT, default=30000"`
	MaxQueue        int `env:"OTEL_BSP_MAX_QUEUE_SIZE, default=2048"`
	MaxBatch        int `env:"OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default=512"`
}

// batchOptions are the Batcher's options c names.
func (c Config) batchOptions() BatchOptions {
	return BatchOptions{MaxQueue: c.MaxQueue, MaxBatch: c.MaxBatch,
		Interval: time.Duration(c.BatchDelayMS) * time.Millisecond, ExportTimeout: time.Duration(c.ExportTimeoutMS) * time.Millisecond}
}

// LogValue implements slog.LogValuer.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("exporter", c.Exporter), slog.String("sampler", c.Sampler), slog.Float64("sampler_arg", c.SamplerArg),
		slog.Int("bsp_schedule_delay_ms", c.BatchDelayMS), slog.Int("bsp_export_timeout_ms", c.ExportTimeoutMS),
		slog.Int("bsp_max_queue_size", c.MaxQueue), slog.Int("bsp_max_export_batch_size", c.MaxBatch))
}

// Validate reports an unknown exporter or sampler, a ratio out of range or
// a negative batching setting.
func (c Config) Validate() error {
	var errs []error
	switch c.Exporter {
	case ExporterOTLP, ExporterConsole, ExporterNone:
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER must be %s, %s or %s, got %q", ExporterOTLP, ExporterConsole, ExporterNone, c.Exporter))
	}
	if _, err := c.sampler(); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct {
		name  string
		value int
	}{{"OTEL_BSP_SCHEDULE_DELAY", c.BatchDelayMS}, {"OTEL_BSP_EXPORT_TIMEOUT", c.ExportTimeoutMS},
		{"OTEL_BSP_MAX_QUEUE_SIZE", c.MaxQueue}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", c.MaxBatch}} {
		if v.value < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", v.name, v.value))
		}
	}
	return errors.Join(errs...)
}

// sampler returns the sampler c names.
func (c Config) sampler() (sdktrace.Sampler, error) {
	if c.SamplerArg < 0 || c.SamplerArg > 1 {
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got %v", c.SamplerArg)
	}
	switch c.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case SamplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(c.SamplerArg), nil
	case SamplerParentBasedAlwaysOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplerArg)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER must be one of %s, %s, %s, %s, %s or %s, got %q",
		SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio, SamplerParentBasedAlwaysOn,
		SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio, c.Sampler)
}

// shutdownTimeout bounds the flush of the spans still queued when a
// function instance stops.
const shutdownTimeout = 5 * time.Second

// NewProvider returns the tracer provider c describes for the function
// service of projectID, and the function that flushes and stops it. Spans
// are exported in batches, in the background.
func NewProvider(ctx context.Context, c Config, service, projectID string) (trace.TracerProvider, func() error, error) {
	sampler, err := c.sampler()
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	var exp sdktrace.SpanExporter
	switch c.Exporter {
	case ExporterNone:
		return noop.NewTracerProvider(), func() error { return nil }, nil
	case ExporterConsole:
		exp = NewLineExporter(os.Stdout)
	case ExporterOTLP:
		creds, err := oauth.NewApplicationDefault(ctx, "https://www.googleapis.com/auth/trace.append")
		if err != nil {
			return nil, nil, fmt.Errorf("failed to find credentials to export spans with (set %s=%s to run without): %w", config.EnvTracesExporter, ExporterNone, err)
		}
		// The exporter connects lazily: nothing is dialled here.
		if exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(TelemetryEndpoint),
			otlptracegrpc.WithDialOption(grpc.WithPerRPCCredentials(creds))); err != nil {
			return nil, nil, fmt.Errorf("failed to create the OTLP trace exporter: %w", err)
		}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
		// The Telemetry API stores spans in the project this names.
		resource.WithAttributes(attribute.String("gcp.project_id", projectID)))
	// A partial resource (a malformed OTEL_RESOURCE_ATTRIBUTES) only lacks
	// the attributes that could not be read.
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, errors.Join(fmt.Errorf("failed to describe the trace resource: %w", err), exp.Shutdown(ctx))
	}
	tp, err := NewBatchedProvider(exp, c.batchOptions(), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	if err != nil {
		return nil, nil, errors.Join(err, exp.Shutdown(ctx))
	}
	return tp, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return tp.Shutdown(ctx)
	}, nil
}

// NewBatchedProvider returns a tracer provider whose spans a Batcher
// (opts) exports to exp, configured further by po: the provider
// NewProvider builds, for callers that bring their own exporter, such as
// benchmarks of tracing's cost.
func NewBatchedProvider(exp sdktrace.SpanExporter, opts BatchOptions, po ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, error) {
	batcher, err := NewBatcher(exp, opts)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(append(po, sdktrace.WithSpanProcessor(batcher))...), nil
}
