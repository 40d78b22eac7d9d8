package testenv_test

import (
	"testing"
	"testing/synctest"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// TestWaitingContexts checks that the channel closes exactly when the last
// context is waited on, and not before.
func TestWaitingContexts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctxs, all := testenv.WaitingContexts(t.Context(), 3)
		release := make(chan struct{})
		for _, ctx := range ctxs[:2] {
			go func() {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}()
		}
		synctest.Wait()
		select {
		case <-all:
			t.Fatal("closed with one context not waited on")
		default:
		}
		_ = ctxs[2].Done()
		_ = ctxs[2].Done() // a second call counts once
		synctest.Wait()
		select {
		case <-all:
		default:
			t.Fatal("not closed after every context was waited on")
		}
		close(release)
	})
}
