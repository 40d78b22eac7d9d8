package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/geminihooks/geminihooks/pkg/secret"
)

// fileSecretStore adds signing secrets to the file that stands in for
// Secret Manager where there is none: the local runner's
// (WEBHOOK_SIGNING_SECRET_FILE). The runner accepts every version in it.
type fileSecretStore struct {
	file *secret.File
}

func (s *fileSecretStore) target() string { return s.file.Path() }

func (s *fileSecretStore) flag() string { return "--secret-file " + s.file.Path() }

func (s *fileSecretStore) close() {}

// check makes sure the file can be written.
func (s *fileSecretStore) check(context.Context) error { return s.file.CheckWritable() }

func (s *fileSecretStore) add(_ context.Context, value string) (string, error) {
	v, err := s.file.Add(value)
	if err != nil {
		return "", fmt.Errorf("failed to add a version to %s: %w", s.file.Path(), err)
	}
	return v, nil
}

func (s *fileSecretStore) enabledVersionsExcept(_ context.Context, skip string) ([]string, error) {
	versions, err := s.file.Versions()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range versions {
		if name := s.file.VersionName(v.Number); name != skip {
			out = append(out, name)
		}
	}
	return out, nil
}

func (s *fileSecretStore) byHand() []string {
	return []string{
		"The secret printed on standard output is its only copy: give it to the local runner in",
		"WEBHOOK_SIGNING_SECRETS when you start it.",
	}
}

func (s *fileSecretStore) pickup() string {
	return fmt.Sprintf("The local runner reading %s accepts deliveries signed with it at once\n"+
		"(it reads the file again when no signature matches).", s.file.Path())
}

func (s *fileSecretStore) retire(w io.Writer, _ string, previous []string, _ bool) {
	if len(previous) == 0 {
		fmt.Fprintf(w, "%s holds no other version.\n", s.file.Path())
		return
	}
	fmt.Fprintf(w, "The local runner keeps accepting the %d previous version(s) in %s; delete them from the file\n"+
		"once they no longer sign.\n", len(previous), s.file.Path())
}
