package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/orderstream/orderstream/graph/model"
	"github.com/orderstream/orderstream/internal/order"
)

func TestUnmarshalDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want order.Decimal
	}{
		{"string", "29.99", 2999},
		{"string one decimal", "0.1", 10},
		{"string negative", "-3.50", -350},
		{"json.Number", json.Number("29.99"), 2999},
		{"json.Number integer", json.Number("3"), 300},
		{"json.Number max price", json.Number("999999999.99"), order.MaxPrice},
		{"string 17 digits", "999999999999999.99", order.MaxTotal},
		{"int64", int64(3), 300},
		{"int", int(3), 300},
		{"int zero", int(0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := model.UnmarshalDecimal(tt.in)
			if err != nil {
				t.Fatalf("UnmarshalDecimal(%#v): got error %v; want %d", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("UnmarshalDecimal(%#v): got %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnmarshalDecimalRejects(t *testing.T) {
	tenth, fifth := 0.1, 0.2 // variables: 0.1 + 0.2 as constants is exactly 0.3
	tests := []struct {
		name string
		in   any
	}{
		{"letters", "abc"},
		{"empty string", ""},
		{"three decimals", "29.999"},
		{"exponent string", "1e3"},
		// A float64 may be a rounded literal (0.009999999999999999999 is
		// 0.01 as a float64): refused, never rounded.
		{"float64", float64(29.99)},
		{"float64 integer", float64(3)},
		{"float64 rounded", 0.009999999999999999999},
		{"json.Number too precise", json.Number("0.009999999999999999999")},
		{"string too precise", "0.009999999999999999999"},
		{"float64 NaN", math.NaN()},
		{"float64 +Inf", math.Inf(1)},
		{"float64 -Inf", math.Inf(-1)},
		{"float64 1e300", float64(1e300)},
		{"float64 1e15", float64(1e15)},
		{"float64 three decimals", float64(0.125)},
		{"float64 sum not exact", tenth + fifth}, // 0.30000000000000004
		{"float64 tiny", float64(1e-7)},
		{"json.Number 1e309", json.Number("1e309")},
		{"json.Number exponent", json.Number("1e3")},
		{"bool", true},
		{"nil", nil},
		{"float32", float32(1.5)},
		{"int32", int32(3)},
		{"map", map[string]any{"amount": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := model.UnmarshalDecimal(tt.in)
			if err == nil {
				t.Fatalf("UnmarshalDecimal(%#v): got %d, nil; want an error", tt.in, got)
			}
			var e *order.Error
			if !errors.As(err, &e) {
				t.Fatalf("UnmarshalDecimal(%#v): got error %T %v; want *order.Error", tt.in, err, err)
			}
			if e.Code != order.EINVALID {
				t.Errorf("UnmarshalDecimal(%#v): got code %s; want %s", tt.in, e.Code, order.EINVALID)
			}
		})
	}
}

func TestMarshalDecimal(t *testing.T) {
	tests := []struct {
		in   order.Decimal
		want string
	}{
		{2999, `"29.99"`},
		{0, `"0.00"`},
		{10, `"0.10"`},
		{-50, `"-0.50"`},
		{order.MaxTotal, `"999999999999999.99"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var buf bytes.Buffer
			model.MarshalDecimal(tt.in).MarshalGQL(&buf)
			if got := buf.String(); got != tt.want {
				t.Errorf("MarshalDecimal(%d): got %s; want %s", int64(tt.in), got, tt.want)
			}
			var back string
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatalf("output %s is not a JSON string: %v", buf.String(), err)
			}
			if d, err := model.UnmarshalDecimal(back); err != nil || d != tt.in {
				t.Errorf("UnmarshalDecimal(%q): got %d, %v; want %d, nil", back, d, err, tt.in)
			}
		})
	}
}
