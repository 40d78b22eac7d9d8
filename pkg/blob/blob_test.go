package blob_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/blob"
)

func TestValidateNameAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		object string
	}{
		{"single_segment", "output.jsonl"},
		{"nested", "batches/123/output.jsonl"},
		{"dots_inside", "a.b/c..d/e."},
		{"unicode", "résumé/日本語"},
		{"spaces_and_symbols", "with space/#?%&=+,;:@"},
		{"longest_segment", strings.Repeat("a", blob.MaxSegmentLength)},
		{"longest_name", strings.Repeat(strings.Repeat("a", 99)+"/", 10) + strings.Repeat("a", 23)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if len(tc.object) > blob.MaxNameLength {
				t.Fatalf("test name is %d bytes, over the limit", len(tc.object))
			}
			if err := blob.ValidateName(tc.object); err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tc.object, err)
			}
		})
	}
}

func TestValidateNameErrorIsBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	err := blob.ValidateName(huge)
	if !errors.Is(err, blob.ErrInvalidName) {
		t.Fatalf("ValidateName(1 MiB name) = %v, want ErrInvalidName", err)
	}
	if n := len(err.Error()); n > 200 {
		t.Errorf("error message is %d bytes; a rejected name must not be echoed in full", n)
	}
}
