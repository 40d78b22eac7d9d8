package testenv_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// TestSyncBufferConcurrentUse writes from several goroutines while reading;
// the race detector checks the locking, the final read that nothing is lost.
func TestSyncBufferConcurrentUse(t *testing.T) {
	var b testenv.SyncBuffer
	const writers, lines = 4, 200
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range lines {
				if _, err := b.Write([]byte("x\n")); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
		})
	}
	for range lines {
		_ = b.String()
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != writers*lines {
		t.Errorf("buffer holds %d lines, want %d", got, writers*lines)
	}
}
