package entrypoint

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

func TestServe(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	cases := []struct {
		name    string
		handler func() (http.Handler, error)
		status  int
		code    string
	}{
		{name: "built", handler: func() (http.Handler, error) { return ok, nil }, status: http.StatusTeapot},
		{name: "misconfigured", handler: func() (http.Handler, error) { return nil, errors.New("X must be set") }, status: 500, code: "not_configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			Serve(tc.handler)(w, httptest.NewRequest(http.MethodPost, "/", nil))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.code != "" {
				var body struct{ Error struct{ Code string } }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code {
					t.Errorf("body %s, want error code %s", w.Body, tc.code)
				}
			}
		})
	}
}

func TestStopOn_stopsThenExits(t *testing.T) {
	t.Parallel()
	var order []string
	sig := make(chan os.Signal, 1)
	sig <- syscall.SIGTERM
	stopOn(sig, func() error { order = append(order, "stop"); return errors.New("flush failed") },
		slog.New(slog.DiscardHandler), func(code int) { order = append(order, "exit "+strconv.Itoa(code)) })
	if want := []string{"stop", "exit 0"}; !slices.Equal(order, want) {
		t.Errorf("on SIGTERM: %v, want %v", order, want)
	}
}
