package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// TestNames_matchConfigTags keeps every name constant equal to the env tag
// of the Config field it stands for.
func TestNames_matchConfigTags(t *testing.T) {
	t.Parallel()
	type fields map[string]string // field name → constant
	tests := []struct {
		name   string
		config any
		fields fields
	}{
		{name: "receiver", config: receiver.Config{}, fields: fields{
			"ProjectID":          config.EnvGoogleCloudProject,
			"ResultsBucket":      config.EnvResultsBucket,
			"LogLevel":           config.EnvLogLevel,
			"SigningSecrets":     config.EnvSigningSecrets,
			"SigningSecretName":  config.EnvSigningSecret,
			"JWKSURL":            config.EnvJWKSURL,
			"JWTAudience":        config.EnvJWTAudience,
			"JWTIssuer":          config.EnvJWTIssuer,
			"TimestampTolerance": config.EnvTimestampTolerance,
			"EventsTopic":        config.EnvEventsTopic,
		}},
		{name: "tracing", config: tracing.Config{}, fields: fields{
			"Exporter":   config.EnvTracesExporter,
			"Sampler":    config.EnvTracesSampler,
			"SamplerArg": config.EnvTracesSamplerArg,
		}},
		{name: "materializer", config: materializer.Config{}, fields: fields{
			"ProjectID":     config.EnvGoogleCloudProject,
			"ResultsBucket": config.EnvResultsBucket,
			"LogLevel":      config.EnvLogLevel,
			"GeminiAPIKey":  config.EnvGeminiAPIKey,
			"GeminiBaseURL": config.EnvGeminiBaseURL,
			"DownloadHosts": config.EnvGeminiDownloadHosts,
			"ResultsTopic":  config.EnvResultsTopic,
			"ResultsPrefix": config.EnvResultsPrefix,
		}},
		{name: "reconciler", config: reconciler.Config{}, fields: fields{
			"ProjectID":     config.EnvGoogleCloudProject,
			"LogLevel":      config.EnvLogLevel,
			"GeminiAPIKey":  config.EnvGeminiAPIKey,
			"GeminiBaseURL": config.EnvGeminiBaseURL,
			"EventsTopic":   config.EnvEventsTopic,
			"Grace":         config.EnvReconcileGrace,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			typ := reflect.TypeOf(tc.config)
			for field, want := range tc.fields {
				f, ok := typ.FieldByName(field)
				if !ok {
					t.Errorf("%s has no field %s", typ, field)
					continue
				}
				if got, _, _ := strings.Cut(f.Tag.Get("env"), ","); got != want {
					t.Errorf("%s.%s reads %q, but its constant is %q", typ, field, got, want)
				}
			}
		})
	}
}
