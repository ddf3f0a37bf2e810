package devstack_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/gqltest"
	"github.com/orderstream/orderstream/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// TestStack runs one OrderStream on the launcher: PostgreSQL with the
// login roles, kfake, a worker and an API built from their config
// structs, and drives it through pause, restart and close.
func TestStack(t *testing.T) {
	api, worker := testbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := devstack.StartStack(ctx, devstack.StackOptions{
		Dir: testDir(t), Postgres: devstack.PostgresOptions{Fast: true}, APIBin: api, WorkerBin: worker, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.DumpLogs(t.Logf)
		}
	})
	if !strings.Contains(s.DB.API, devstack.APILogin) || !strings.Contains(s.DB.Worker, devstack.WorkerLogin) {
		t.Errorf("database URLs %+v; want the login roles", s.DB)
	}

	wcfg := s.WorkerConfig()
	wcfg.Group = "stack-test"
	w, err := s.StartWorker(ctx, "worker", wcfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg := s.APIConfig()
	acfg.Auth.Disabled = true
	a, err := s.StartAPI(ctx, "api", acfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitGroupStable(ctx, wcfg.Group, 1); err != nil {
		t.Fatal(err)
	}
	c := gqltest.New(30 * time.Second)
	create := func(ext string) *gqltest.Response {
		t.Helper()
		r, err := c.Do(ctx, a.URL(), `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status } } }`,
			map[string]any{"in": map[string]any{"externalId": ext, "userId": "00000000-0000-4000-8000-000000000001",
				"items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := create("one"); r.Code() != "" || !strings.Contains(string(r.Data["createOrder"]), "DONE") {
		t.Fatalf("create: %+v; want DONE", r)
	}

	// A paused worker answers nothing; resumed, it completes the order.
	if err := w.Pause(); err != nil {
		t.Fatal(err)
	}
	done := make(chan *gqltest.Response, 1)
	go func() { done <- create("two") }()
	select {
	case r := <-done:
		t.Fatalf("answered while the worker was paused: %+v", r)
	case <-time.After(time.Second):
	}
	if err := w.Resume(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Code() != "" {
		t.Fatalf("create after resume: %+v", r.Errors)
	}

	// Restart keeps the API's address.
	url := a.URL()
	if err := a.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if a.URL() != url || a.Starts() != 2 {
		t.Errorf("after Restart: %s, %d starts; want %s, 2", a.URL(), a.Starts(), url)
	}
	if r := create("three"); r.Code() != "" {
		t.Fatalf("create after restart: %+v", r.Errors)
	}
	if logs := a.Logs(); !strings.Contains(logs, "===== api start #2") || !strings.Contains(logs, `"msg":"api listening"`) {
		t.Errorf("API log lacks the second start or its JSON lines:\n%.2000s", logs)
	}

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if a.Running() || w.Running() {
		t.Error("processes still run after Close")
	}
	if err := a.Process().Cmd().ProcessState.Sys().(syscall.WaitStatus); err.ExitStatus() != 0 {
		t.Errorf("API exit status %d after SIGTERM; want 0", err.ExitStatus())
	}
}

func TestStartBrokerKinds(t *testing.T) {
	if _, err := devstack.StartBroker(t.Context(), devstack.BrokerOptions{Kind: devstack.KindExternal}); err == nil {
		t.Error("external without addresses: no error")
	}
	b, err := devstack.StartBroker(t.Context(), devstack.BrokerOptions{Brokers: []string{"127.0.0.1:1"}})
	if err != nil || b.Brokers()[0] != "127.0.0.1:1" {
		t.Errorf("addresses given: %v, %v; want the external cluster", b, err)
	}
	b.Close() // leaves it running: a no-op
	if _, err := devstack.StartBroker(t.Context(), devstack.BrokerOptions{Kind: "zookeeper"}); err == nil {
		t.Error("unknown kind: no error")
	}
}
