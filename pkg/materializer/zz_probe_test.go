package materializer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihooks/geminihooks/pkg/testenv"
)

func TestZZProbePush(t *testing.T) {
	ps := testenv.PubSub(t)
	topic, _ := testenv.Topic(t, ps)
	var mu sync.Mutex
	start := time.Now()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		t.Logf("%v push #%d ct=%q hdr=%v body=%s", time.Since(start), k, r.Header.Get("Content-Type"), r.Header, b)
		if k <= 2 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	name := "projects/" + ps.Project() + "/subscriptions/" + testenv.UniqueName(t, "push")
	_, err := ps.SubscriptionAdminClient.CreateSubscription(context.Background(), &pubsubpb.Subscription{
		Name: name, Topic: topic, AckDeadlineSeconds: 10,
		PushConfig: &pubsubpb.PushConfig{PushEndpoint: srv.URL + "/push"},
		RetryPolicy: &pubsubpb.RetryPolicy{},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := ps.Publisher(topic)
	p.EnableMessageOrdering = true
	id, err := p.Publish(context.Background(), &pubsub.Message{Data: []byte(`{"x":1}`), Attributes: map[string]string{"a": "b"}, OrderingKey: "k"}).Get(context.Background())
	t.Log(id, err)
	time.Sleep(20 * time.Second)
	p.Stop()
}
