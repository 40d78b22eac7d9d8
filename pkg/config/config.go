// Package config loads a function's configuration struct from the
// environment with go-envconfig, reporting problems by variable name. It is
// also the one home of the variables' names (the Env constants) for code
// that reads or sets them outside a Config, and of the rule that configured
// URLs use https except to a loopback host ([IsLoopback]), and of how a
// configured short id becomes a full resource name ([ResourceName]).
package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Validator is implemented by configuration structs that check themselves.
type Validator interface {
	Validate() error
}

// Load fills target (a pointer to a struct with `env` tags) through lookuper
// and validates it. A value that cannot be read is reported by the variable
// operators set ("IDEMPOTENCY_LEASE: …"), and the error wraps go-envconfig's
// cause (envconfig.ErrMissingRequired, *strconv.NumError, …).
func Load(ctx context.Context, lookuper envconfig.Lookuper, target Validator) error {
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: lookuper}); err != nil {
		return fmt.Errorf("failed to read configuration: %w", byVariable(target, err))
	}
	return target.Validate()
}

// byVariable names the variable behind a go-envconfig error. go-envconfig
// reports a field as "GoName: cause"; the result is "VAR_NAME: cause",
// wrapping the same cause. Errors of any other shape are returned as they are.
func byVariable(target any, err error) error {
	cause := errors.Unwrap(err)
	t := reflect.TypeOf(target)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if cause == nil || t.Kind() != reflect.Struct {
		return err
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name != "" && err.Error() == f.Name+": "+cause.Error() {
			return fmt.Errorf("%s: %w", name, cause)
		}
	}
	return err
}

// IsLoopback reports whether host is localhost or a loopback IP: the only
// hosts that configured URLs (the Gemini API, a JWKS) may name with plain
// http, for the simulator and local key sets.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ResourceName returns name as a full Google Cloud resource name: a short
// id becomes projects/<project>/<collection>/<id> (collection "topics",
// "subscriptions", …); a name starting "projects/" is returned as is.
func ResourceName(project, collection, name string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return "projects/" + project + "/" + collection + "/" + name
}
