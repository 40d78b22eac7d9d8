package secret_test

import (
	"context"
	"hash/crc32"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// fakeSecretManager is an in-process Secret Manager holding one secret. It
// implements the two RPCs the Manager uses, the way the real service does:
// list filters "state:ENABLED" and friends and pages (with a server-chosen
// page size when the request sets none), and accessing a version that is not
// enabled fails with FailedPrecondition.
type fakeSecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	parent   string
	pageSize int                   // used when a request sets none; 0 means all
	client   *secretmanager.Client // a real client connected to the fake

	mu        sync.Mutex
	versions  []*fakeVersion
	listErr   error
	accessErr error
	badCRC    bool              // send a wrong payload checksum
	gate      chan struct{}     // if non-nil, lists wait for it to be closed
	onAccess  func(name string) // runs before an access is served, without mu
	lists     int               // ListSecretVersions calls (first pages only)
	pages     int               // ListSecretVersions calls, all pages
	accessed  map[string]int    // AccessSecretVersion calls by name
}

type fakeVersion struct {
	name  string
	state secretmanagerpb.SecretVersion_State
	data  []byte
}

// startFake starts a fake holding an empty secret and connects a real
// client to it.
func startFake(t *testing.T, pageSize int) *fakeSecretManager {
	t.Helper()
	f := &fakeSecretManager{
		parent:   "projects/geminihooks-test/secrets/webhook-signing",
		pageSize: pageSize,
		accessed: map[string]int{},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	client, err := secretmanager.NewClient(t.Context(),
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	f.client = client
	return f
}

// add appends a version and returns its name.
func (f *fakeSecretManager) add(state secretmanagerpb.SecretVersion_State, data string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := f.parent + "/versions/" + strconv.Itoa(len(f.versions)+1)
	f.versions = append(f.versions, &fakeVersion{name: name, state: state, data: []byte(data)})
	return name
}

func (f *fakeSecretManager) setState(name string, state secretmanagerpb.SecretVersion_State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.versions {
		if v.name == name {
			v.state = state
		}
	}
}

func (f *fakeSecretManager) setErrors(listErr, accessErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErr, f.accessErr = listErr, accessErr
}

func (f *fakeSecretManager) counts() (lists, pages int, accessed map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.accessed))
	for k, v := range f.accessed {
		m[k] = v
	}
	return f.lists, f.pages, m
}

func (f *fakeSecretManager) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages++
	if req.GetPageToken() == "" {
		f.lists++
	}
	if f.listErr != nil {
		return nil, f.listErr
	}
	if req.GetParent() != f.parent {
		return nil, status.Errorf(codes.NotFound, "secret %s not found", req.GetParent())
	}
	var match func(secretmanagerpb.SecretVersion_State) bool
	switch req.GetFilter() {
	case "":
		match = func(secretmanagerpb.SecretVersion_State) bool { return true }
	case "state:ENABLED", "state:DISABLED", "state:DESTROYED":
		want := secretmanagerpb.SecretVersion_State(secretmanagerpb.SecretVersion_State_value[req.GetFilter()[len("state:"):]])
		match = func(s secretmanagerpb.SecretVersion_State) bool { return s == want }
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unsupported filter %q", req.GetFilter())
	}
	var all []*secretmanagerpb.SecretVersion
	// Newest first, as the real service lists them.
	for _, v := range slices.Backward(f.versions) {
		if match(v.state) {
			all = append(all, &secretmanagerpb.SecretVersion{Name: v.name, State: v.state})
		}
	}
	start := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(all) {
			return nil, status.Errorf(codes.InvalidArgument, "bad page token %q", tok)
		}
		start = n
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = f.pageSize
	}
	if size <= 0 {
		size = len(all)
	}
	end := min(start+size, len(all))
	resp := &secretmanagerpb.ListSecretVersionsResponse{Versions: all[start:end], TotalSize: int32(len(all))}
	if end < len(all) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeSecretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	hook := f.onAccess
	f.mu.Unlock()
	if hook != nil {
		hook(req.GetName())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accessed[req.GetName()]++
	if f.accessErr != nil {
		return nil, f.accessErr
	}
	for _, v := range f.versions {
		if v.name != req.GetName() {
			continue
		}
		if v.state != secretmanagerpb.SecretVersion_ENABLED {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is in %s state", v.name, v.state)
		}
		sum := int64(crc32.Checksum(v.data, crc32.MakeTable(crc32.Castagnoli)))
		if f.badCRC {
			sum++
		}
		return &secretmanagerpb.AccessSecretVersionResponse{
			Name:    v.name,
			Payload: &secretmanagerpb.SecretPayload{Data: v.data, DataCrc32C: &sum},
		}, nil
	}
	return nil, status.Errorf(codes.NotFound, "%s not found", req.GetName())
}

// TestFake checks that the fake lists and filters like Secret Manager, so
// that the Manager tests exercise the real request the Manager sends.
func TestFake(t *testing.T) {
	t.Parallel()
	f := startFake(t, 1)
	client := f.client
	v1 := f.add(secretmanagerpb.SecretVersion_ENABLED, "a")
	v2 := f.add(secretmanagerpb.SecretVersion_DISABLED, "b")
	v3 := f.add(secretmanagerpb.SecretVersion_ENABLED, "c")
	v4 := f.add(secretmanagerpb.SecretVersion_DESTROYED, "")

	list := func(filter string) ([]string, error) {
		var names []string
		it := client.ListSecretVersions(t.Context(), &secretmanagerpb.ListSecretVersionsRequest{Parent: f.parent, Filter: filter})
		for v, err := range it.All() {
			if err != nil {
				return nil, err
			}
			names = append(names, v.GetName())
		}
		return names, nil
	}
	tests := []struct {
		name     string
		filter   string
		want     []string
		wantCode codes.Code
	}{
		{name: "no_filter", filter: "", want: []string{v4, v3, v2, v1}},
		{name: "enabled", filter: "state:ENABLED", want: []string{v3, v1}},
		{name: "disabled", filter: "state:DISABLED", want: []string{v2}},
		{name: "destroyed", filter: "state:DESTROYED", want: []string{v4}},
		{name: "unsupported", filter: "state=ENABLED AND name:x", wantCode: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := list(tt.filter)
			if status.Code(err) != tt.wantCode {
				t.Fatalf("list(%q) error = %v; want code %s", tt.filter, err, tt.wantCode)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("list(%q) = %q; want %q", tt.filter, got, tt.want)
			}
		})
	}
	if _, pages, _ := f.counts(); pages < 4 {
		t.Fatalf("listing took %d pages; want one per version with page size 1", pages)
	}

	_, err := client.AccessSecretVersion(t.Context(), &secretmanagerpb.AccessSecretVersionRequest{Name: v2})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("accessing a disabled version: error = %v; want FailedPrecondition", err)
	}
}
