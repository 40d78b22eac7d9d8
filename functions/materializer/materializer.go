// Package materializer registers the MaterializeResults HTTP function, the
// push endpoint of the events topic's subscription. It only wires:
// configuration comes from the environment and the work is done by
// pkg/materializer.
package materializer

import (
	"github.com/geminihooks/geminihooks/pkg/entrypoint"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "MaterializeResults"

var build = entrypoint.FromEnv(materializer.LoadConfig, materializer.CloudBackends, materializer.Build)

func init() { entrypoint.Register(EntryPoint, build) }
