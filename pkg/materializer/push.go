package materializer

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"
)

// PushMessage is the Pub/Sub message inside a push request.
type PushMessage struct {
	// Data is the message payload (base64 in JSON).
	Data []byte `json:"data"`
	// Attributes are the message attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
	// MessageID is the server-assigned id; push requests carry it in both
	// spellings.
	MessageID  string `json:"messageId,omitempty"`
	MessageID2 string `json:"message_id,omitempty"`
	// PublishTime is when Pub/Sub received the message.
	PublishTime time.Time `json:"publishTime,omitzero"`
	// OrderingKey is the message's ordering key, if any.
	OrderingKey string `json:"orderingKey,omitempty"`
}

// ID returns the message id, whichever spelling carried it.
func (m *PushMessage) ID() string {
	if m.MessageID != "" {
		return m.MessageID
	}
	return m.MessageID2
}

// PushEnvelope is the body of a Pub/Sub push request, and also the data of
// the google.cloud.pubsub.topic.v1.messagePublished CloudEvent that Eventarc
// delivers: both are {"message": …, "subscription": …}.
type PushEnvelope struct {
	Message      PushMessage `json:"message"`
	Subscription string      `json:"subscription,omitempty"`
	// DeliveryAttempt counts deliveries when the subscription has a
	// dead-letter policy.
	DeliveryAttempt int `json:"deliveryAttempt,omitempty"`
}

// errBadEnvelope marks a request that is not a Pub/Sub push or CloudEvent.
var errBadEnvelope = errors.New("not a Pub/Sub push request")

// DecodePush reads a push request in any of the forms a Pub/Sub trigger
// uses: a push subscription's envelope, a binary-mode CloudEvent (ce-*
// headers, the same envelope as body) or a structured-mode CloudEvent
// (application/cloudevents+json, the envelope under "data").
func DecodePush(r *http.Request, body []byte) (*PushEnvelope, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "application/cloudevents+json" {
		var ce struct {
			SpecVersion string          `json:"specversion"`
			Data        json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &ce); err != nil || ce.SpecVersion == "" || len(ce.Data) == 0 {
			return nil, fmt.Errorf("%w: structured CloudEvent without data", errBadEnvelope)
		}
		body = ce.Data
	}
	var env PushEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEnvelope, err)
	}
	if len(env.Message.Data) == 0 {
		return nil, fmt.Errorf("%w: message has no data", errBadEnvelope)
	}
	return &env, nil
}
