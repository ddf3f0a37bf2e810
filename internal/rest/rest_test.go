package rest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONErrorMessage: decoding errors are described without echoing the body.
func TestJSONErrorMessage(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"BadPrice", `{"payload": {"items": [{"name": "A", "quantity": 1, "price": "1.234"}]}}`, "price must have at most 2 decimal places"},
		{"PriceNotANumber", `{"payload": {"items": [{"name": "A", "quantity": 1, "price": "secret-abc"}]}}`, "price must be a decimal number such as 29.99"},
		{"QuantityFraction", `{"payload": {"items": [{"name": "A", "quantity": 1.5, "price": 1}]}}`, `field "payload.items.quantity" must be int64`},
		{"Syntax", `{"external_id": secret-xyz}`, "syntax error at byte 17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req createRequest
			err := json.NewDecoder(strings.NewReader(tc.body)).Decode(&req)
			if err == nil {
				t.Fatal("decoded; want an error")
			}
			got := jsonErrorMessage(err)
			if got != tc.want || strings.Contains(got, "secret") {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}
