package config

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

type sample struct {
	Lease time.Duration `env:"SAMPLE_LEASE, default=30s"`
	Name  string        `env:"SAMPLE_NAME"`
	Count int           `env:"SAMPLE_COUNT"`
}

func (s *sample) Validate() error {
	if s.Name == "bad" {
		return errors.New("SAMPLE_NAME must not be bad")
	}
	return nil
}

func TestLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		want    sample
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, want: sample{Lease: 30 * time.Second}},
		{name: "set", env: map[string]string{"SAMPLE_LEASE": "1m", "SAMPLE_NAME": "x"}, want: sample{Lease: time.Minute, Name: "x"}},
		{name: "parse_error_names_variable", env: map[string]string{"SAMPLE_LEASE": "soon"}, wantErr: "SAMPLE_LEASE:"},
		{name: "validation_error", env: map[string]string{"SAMPLE_NAME": "bad"}, wantErr: "must not be bad"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got sample
			err := Load(context.Background(), envconfig.MapLookuper(tc.env), &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Load = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestLoad_wrapsCause checks that the error names the variable and still
// wraps go-envconfig's cause.
func TestLoad_wrapsCause(t *testing.T) {
	t.Parallel()
	var required struct {
		sample
		Token string `env:"SAMPLE_TOKEN, required"`
	}
	err := Load(context.Background(), envconfig.MapLookuper(nil), &required)
	if !errors.Is(err, envconfig.ErrMissingRequired) || !strings.Contains(err.Error(), "SAMPLE_TOKEN:") || strings.Contains(err.Error(), "Token:") {
		t.Fatalf("Load error %v; want one naming SAMPLE_TOKEN and wrapping envconfig.ErrMissingRequired", err)
	}

	var got sample
	err = Load(context.Background(), envconfig.MapLookuper(map[string]string{"SAMPLE_COUNT": "many"}), &got)
	var numErr *strconv.NumError
	if !errors.As(err, &numErr) || numErr.Num != "many" || !strings.HasPrefix(err.Error(), "failed to read configuration: SAMPLE_COUNT: ") {
		t.Fatalf("Load error %v; want one naming SAMPLE_COUNT and wrapping a *strconv.NumError", err)
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"10.0.0.1", false},
		{"::", false},
	}
	for _, tc := range tests {
		if got := IsLoopback(tc.host); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestResourceName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, collection, in, want string }{
		{name: "short_topic", collection: "topics", in: "events", want: "projects/p/topics/events"},
		{name: "short_subscription", collection: "subscriptions", in: "events-dlq-sub", want: "projects/p/subscriptions/events-dlq-sub"},
		{name: "full_name_kept", collection: "topics", in: "projects/other/topics/events", want: "projects/other/topics/events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ResourceName("p", tc.collection, tc.in); got != tc.want {
				t.Errorf("ResourceName(p, %s, %s) = %s, want %s", tc.collection, tc.in, got, tc.want)
			}
		})
	}
}
