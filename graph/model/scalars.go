// Package model holds the GraphQL types: generated ones in models_gen.go and
// the custom scalars here.
package model

import (
	"encoding/json"
	"io"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orderstream/orderstream/internal/order"
)

// MarshalDecimal writes a Decimal as a JSON string with two decimals, "29.99".
func MarshalDecimal(d order.Decimal) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(d.String()))
	})
}

// UnmarshalDecimal reads a Decimal from a string ("29.99") or a number
// (29.99). Numbers written inline in a query reach us as float64; their
// shortest decimal form is the literal, so no precision is lost below 1e13
// (15 significant digits with the cents). Errors are BAD_USER_INPUT.
func UnmarshalDecimal(v any) (order.Decimal, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) >= 1e13 {
			// Beyond 15 significant digits a float64 no longer holds the literal exactly.
			return 0, order.Invalid("price", "is out of range (send large amounts as strings)")
		}
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return 0, order.Invalid("price", "must be a decimal number or string such as 29.99, got %T", v)
	}
	d, err := order.ParseDecimal(s)
	if err != nil {
		return 0, order.Invalid("price", "%s", err.Error())
	}
	return d, nil
}
