// Package reconciler registers the ReconcileJobs HTTP function, which Cloud
// Scheduler calls to find finished jobs whose webhook never came. It only
// wires: configuration comes from the environment and the work is done by
// pkg/reconciler.
package reconciler

import (
	"github.com/geminihooks/geminihooks/pkg/entrypoint"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "ReconcileJobs"

var build = entrypoint.FromEnv(reconciler.LoadConfig, reconciler.CloudBackends, reconciler.Build)

func init() { entrypoint.Register(EntryPoint, build) }
