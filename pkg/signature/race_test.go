//go:build race

package signature_test

// raceEnabled is set when testing with -race, under which sync.Pool drops
// items at random, so allocation counts mean nothing.
const raceEnabled = true
