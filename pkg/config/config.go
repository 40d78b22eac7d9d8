// Package config loads a function's configuration struct from the
// environment with go-envconfig, reporting problems by variable name.
package config

import (
	"context"
	"errors"

	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Validator is implemented by configuration structs that check themselves.
type Validator interface {
	Validate() error
}

// Load fills target (a pointer to a struct with `env` tags) through lookuper
// and validates it. go-envconfig names the Go field in its errors
// ("IdempotencyLease: …"); Load rewrites that to the variable operators set
// ("IDEMPOTENCY_LEASE: …").
func Load(ctx context.Context, lookuper envconfig.Lookuper, target Validator) error {
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: lookuper}); err != nil {
		return errors.New("failed to read configuration: " + envNames(reflect.TypeOf(target), err.Error()))
	}
	return target.Validate()
}

func envNames(t reflect.Type, msg string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return msg
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			msg = strings.ReplaceAll(msg, f.Name+":", name+":")
		}
	}
	return msg
}
