// Package gqltest is the GraphQL-over-HTTP client of the tests that drive
// the real binaries (e2e, faults): a POST with a JSON body, an optional
// bearer token, and the response decoded with its HTTP status.
//
// Import it only from _test files.
package gqltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response and its HTTP status.
type Response struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []Error                    `json:"errors"`
	Status int                        `json:"-"`
}

// Code is extensions.code of the first error, "" without errors, and
// "NO_CODE" for an error without one.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	if c, _ := r.Errors[0].Extensions["code"].(string); c != "" {
		return c
	}
	return "NO_CODE"
}

// Ext is extensions[key] of the first error as text ("" when absent).
func (r *Response) Ext(key string) string {
	if len(r.Errors) == 0 {
		return ""
	}
	switch v := r.Errors[0].Extensions[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// Decode unmarshals data[field] into v.
func (r *Response) Decode(field string, v any) error {
	raw, ok := r.Data[field]
	if !ok {
		return fmt.Errorf("no %s in the response", field)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", field, raw, err)
	}
	return nil
}

// Order is an order as the tests select it.
type Order struct {
	ID         string `json:"id"`
	ExternalID string `json:"externalId"`
	UserID     string `json:"userId"`
	Status     string `json:"status"`
	EventID    int    `json:"eventId"`
	Total      string `json:"total"`
	Items      []struct {
		Name     string `json:"name"`
		Quantity int    `json:"quantity"`
		Price    string `json:"price"`
	} `json:"items"`
	CancelReason *string `json:"cancelReason"`
}

// ErrTransport marks a request that got no GraphQL answer (refused, reset,
// timed out, or a body that is not a GraphQL response).
var ErrTransport = errors.New("transport")

// Client posts GraphQL requests.
type Client struct {
	HTTP *http.Client
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// LoopbackOnly refuses to send to anything but 127.0.0.1: load must
	// never leave the machine.
	LoopbackOnly bool
}

// New returns a client with its own connection pool and a timeout per
// request.
func New(timeout time.Duration) *Client {
	return &Client{HTTP: &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
	}}}
}

// Do posts query with vars to base + "/graphql". An error wraps
// ErrTransport when no GraphQL answer came back.
func (c *Client) Do(ctx context.Context, base, query string, vars map[string]any) (*Response, error) {
	if c.LoopbackOnly && !strings.HasPrefix(base, "http://127.0.0.1:") {
		return nil, fmt.Errorf("refusing to send load to %s: only 127.0.0.1", base)
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTransport, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", ErrTransport, err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, undecodable body %.200q", ErrTransport, resp.StatusCode, b)
	}
	r.Status = resp.StatusCode
	return &r, nil
}
