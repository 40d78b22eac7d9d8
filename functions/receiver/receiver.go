// Package receiver registers the ReceiveWebhook HTTP function. It only wires:
// configuration comes from the environment and the work is done by
// pkg/receiver.
package receiver

import (
	"github.com/geminihooks/geminihooks/pkg/entrypoint"
	"github.com/geminihooks/geminihooks/pkg/receiver"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "ReceiveWebhook"

var build = entrypoint.FromEnv(receiver.LoadConfig, receiver.CloudBackends, receiver.Build)

func init() { entrypoint.Register(EntryPoint, build) }
