// Package geminihooks is the root package the Cloud Functions Go buildpack
// compiles: it builds the package at the root of the uploaded source, whose
// init functions must register every entry point. It only imports the
// function packages; the code lives in functions/ and pkg/.
package geminihooks

import (
	// The buildpack serves FUNCTION_TARGET from the functions-framework
	// registry only when the root package imports this package itself.
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	// MaterializeResults (HTTP, Pub/Sub push).
	_ "github.com/geminihooks/geminihooks/functions/materializer"
	// ReceiveWebhook (HTTP).
	_ "github.com/geminihooks/geminihooks/functions/receiver"
	// ReconcileJobs (HTTP, Cloud Scheduler).
	_ "github.com/geminihooks/geminihooks/functions/reconciler"
)
