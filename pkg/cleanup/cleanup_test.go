package cleanup_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/cleanup"
)

func TestStackClose(t *testing.T) {
	errFirst, errThird := errors.New("first"), errors.New("third")
	tests := []struct {
		name     string
		results  []error // what the functions pushed return, in push order
		wantErrs []error
	}{
		{name: "empty", results: nil},
		{name: "all_succeed", results: []error{nil, nil, nil}},
		{name: "failures_do_not_stop_the_rest", results: []error{errFirst, nil, errThird}, wantErrs: []error{errFirst, errThird}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s cleanup.Stack
			var order []int
			for i, res := range tc.results {
				s.Push(func() error { order = append(order, i); return res })
			}
			err := s.Close()
			want := make([]int, len(tc.results))
			for i := range want {
				want[i] = len(want) - 1 - i
			}
			if !slices.Equal(order, want) {
				t.Errorf("release order = %v, want %v (newest first)", order, want)
			}
			if (err == nil) != (len(tc.wantErrs) == 0) {
				t.Fatalf("Close() = %v, want errors %v", err, tc.wantErrs)
			}
			for _, w := range tc.wantErrs {
				if !errors.Is(err, w) {
					t.Errorf("Close() = %v, does not wrap %v", err, w)
				}
			}
			order = nil
			if err := s.Close(); err != nil || len(order) != 0 {
				t.Errorf("second Close() = %v and ran %v, want nil and nothing", err, order)
			}
		})
	}
}
