// Package geminihooks is the root package the Cloud Functions Go buildpack
// compiles: it builds the package at the root of the uploaded source, whose
// init functions must register every entry point. It only imports the
// function packages; the code lives in functions/ and pkg/.
package geminihooks

import (
	// ReceiveWebhook (HTTP).
	_ "github.com/geminihooks/geminihooks/functions/receiver"
	// MaterializeResults (HTTP, Pub/Sub push).
	_ "github.com/geminihooks/geminihooks/functions/materializer"
)
