package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// deliverTimeout bounds one delivery of Replay or SendTest: the receiver
// answers within seconds.
const deliverTimeout = 30 * time.Second

// maxAnswer bounds how much of the receiver's answer Replay and SendTest
// return: the answers are small JSON documents.
const maxAnswer = 4 << 10

// Replay sends body to the receiver again under webhookID, signed with the
// stack's secret and a fresh timestamp, as Gemini's own redelivery would,
// and returns the receiver's status and answer. A delivery the receiver
// accepted before is answered duplicate.
func (s *Stack) Replay(ctx context.Context, webhookID string, body []byte) (string, error) {
	if webhookID == "" {
		return "", errors.New("the delivery has no webhook-id to replay under")
	}
	return s.deliver(ctx, webhookID, body)
}

// SendTest makes the simulator bring a new job to the end eventType names
// (one of event.SubscribableTypes) and delivers its webhook, signed with
// the stack's secret, so the job runs through the whole pipeline. It
// returns the job and the receiver's answer.
func (s *Stack) SendTest(ctx context.Context, eventType string) (string, error) {
	if s.Sim == nil {
		return "", errors.New("test events drive the Gemini API simulator; unset GEMINI_API_KEY to use it")
	}
	n, err := simulateEnd(s.Sim, eventType)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("failed to encode the notification: %w", err)
	}
	answer, err := s.deliver(ctx, "msg_test_"+rand.Text(), body)
	if err != nil {
		return "", err
	}
	return n.Type + " for " + resourceOf(n) + ": " + answer, nil
}

// simulateEnd creates a job in sim and ends it as eventType says.
func simulateEnd(sim *geminisim.Server, eventType string) (event.Payload, error) {
	batch := func(end func(string) (event.Payload, error)) (event.Payload, error) {
		name, err := sim.CreateBatch(geminisim.BatchSpec{DisplayName: "inspector-test", Results: geminisim.ResultsFile{Size: 16 << 10, Seed: 7}})
		if err != nil {
			return event.Payload{}, err
		}
		return end(name)
	}
	interaction := func(end func(string) (event.Payload, error)) (event.Payload, error) {
		id, err := sim.CreateInteraction(geminisim.InteractionSpec{Input: "Summarize webhook delivery guarantees."})
		if err != nil {
			return event.Payload{}, err
		}
		return end(id)
	}
	switch eventType {
	case event.TypeBatchSucceeded:
		return batch(sim.CompleteBatch)
	case event.TypeBatchFailed:
		return batch(func(name string) (event.Payload, error) {
			return sim.FailBatch(name, geminisim.JobError{Code: 3, Message: "request 17 is not valid JSON"})
		})
	case event.TypeBatchCancelled:
		return batch(sim.CancelBatch)
	case event.TypeBatchExpired:
		return batch(sim.ExpireBatch)
	case event.TypeInteractionCompleted:
		return interaction(sim.CompleteInteraction)
	case event.TypeInteractionFailed:
		return interaction(func(id string) (event.Payload, error) {
			return sim.FailInteraction(id, "RESOURCE_EXHAUSTED", "Quota exceeded for deep research requests.")
		})
	case event.TypeInteractionCancelled:
		return interaction(sim.CancelInteraction)
	case event.TypeInteractionRequiresAction:
		return interaction(sim.RequireAction)
	case event.TypeVideoGenerated:
		name, err := sim.CreateVideo(geminisim.VideoSpec{Video: geminisim.VideoFile{Size: 256 << 10, Seed: 8}})
		if err != nil {
			return event.Payload{}, err
		}
		return sim.CompleteVideo(name)
	}
	return event.Payload{}, fmt.Errorf("unknown event type %q; want one of %v", eventType, event.SubscribableTypes())
}

// Verifier returns a verifier configured as the stack's receiver is (its
// secrets, JWKS, tolerance, audience and issuer), to explain why a delivery
// was rejected, as geminihooks verify does.
func (s *Stack) Verifier(ctx context.Context) (*signature.Verifier, error) {
	cfg, err := receiver.LoadConfig(ctx, s.env)
	if err != nil {
		return nil, err
	}
	secrets, err := cfg.Secrets()
	if err != nil {
		return nil, err
	}
	// A failed JWKS fetch shows in the report as keys_unavailable.
	return receiver.NewVerifier(cfg, signature.Options{Secrets: signature.StaticSecrets(secrets)}, slog.New(slog.DiscardHandler))
}

// deliver POSTs body to the receiver under webhookID, HMAC-signed now with
// every configured secret, and describes the answer.
func (s *Stack) deliver(ctx context.Context, webhookID string, body []byte) (string, error) {
	secrets, err := signature.ParseSecretList(config.EnvSigningSecrets, s.Secret)
	if err != nil {
		return "", err
	}
	now := time.Now()
	sigs := make([]string, len(secrets))
	for i, sec := range secrets {
		sigs[i] = signature.SignHMAC(sec, webhookID, now, body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signature.HeaderID, webhookID)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, strings.Join(sigs, " "))
	// A client of its own, whose connection goes with it: the stack's
	// server must not wait for it at shutdown.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: deliverTimeout}).Do(req)
	if err != nil {
		return "", fmt.Errorf("the receiver did not answer: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("failed to read the receiver's answer: %w", err)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(answer)), nil
}
