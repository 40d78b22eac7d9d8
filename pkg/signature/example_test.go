package signature_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// A webhook endpoint verifies the raw body before decoding it and answers
// failures with the status their Kind calls for.
func ExampleVerifier_Verify() {
	secret, err := signature.ParseSecret("WEBHOOK_SIGNING_SECRETS[0]", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		panic(err)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		d, err := v.Verify(r.Context(), r.Header, body)
		var verr *signature.Error
		if errors.As(err, &verr) {
			// Log err (it never holds a credential); answer only the code.
			http.Error(w, verr.Code, verr.Kind.HTTPStatus())
			return
		}
		fmt.Fprintf(w, "accepted %s (signed with %s)", d.ID, d.SecretLabel)
	})

	body := `{"type":"batch.succeeded","data":{"id":"batches/123"}}`
	now := time.Now()
	for _, sig := range []string{signature.SignHMAC(secret, "msg_1", now, []byte(body)), "v1,YSBzaWduYXR1cmUgb2Ygc29tZSBvdGhlciBib2R5ISE="} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set(signature.HeaderID, "msg_1")
		req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(signature.HeaderSignature, sig)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 accepted msg_1 (signed with WEBHOOK_SIGNING_SECRETS[0])
	// 401 signature_mismatch
}
