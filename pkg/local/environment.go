package local

import (
	"github.com/geminihooks/geminihooks/pkg/config"
)

// EnvVar is one variable of a Stack's Environment.
type EnvVar struct {
	Name, Value string
}

// Environment returns the variables that point the operator tool at the
// running stack, in the order to print them: the Gemini API (the
// simulator and its key; nothing when the real API is used, whose
// variables the shell has already), the signing secret and the file that
// stands in for its Secret Manager secret, the Pub/Sub endpoint and
// project, and the key set of JWT deliveries. With them set, send, verify,
// listen, tail, redrive and webhooks work against this stack.
func (s *Stack) Environment() []EnvVar {
	var vars []EnvVar
	if s.Sim != nil {
		vars = append(vars, EnvVar{config.EnvGeminiBaseURL, s.Sim.URL()}, EnvVar{config.EnvGeminiAPIKey, s.simKey})
	}
	vars = append(vars,
		EnvVar{config.EnvSigningSecrets, s.Secret},
		EnvVar{config.EnvSigningSecretFile, s.SecretFile.Path()},
		EnvVar{config.EnvPubSubEmulatorHost, s.PubSubAddr},
		EnvVar{config.EnvGoogleCloudProject, s.Project},
		EnvVar{config.EnvJWKSURL, s.JWKSURL},
	)
	return vars
}
