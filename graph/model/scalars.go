// Package model holds the GraphQL types: generated ones in models_gen.go and
// the custom scalars here.
package model

import (
	"encoding/json"
	"io"
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
// (29.99), exactly: never through a float64, which would round
// 0.009999999999999999999 to 0.01. Numbers in variables reach us as
// json.Number (gqlgen decodes JSON with UseNumber), and numbers written
// inline in a query as the string of their literal (the DecimalLiterals
// validation rule in graph/rules.go); a float64 could only come from
// elsewhere and is refused rather than rounded. Errors are BAD_USER_INPUT.
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
		return 0, order.Invalid("price", "must be a decimal number or string such as 29.99, not a rounded float")
	default:
		return 0, order.Invalid("price", "must be a decimal number or string such as 29.99, got %T", v)
	}
	d, err := order.ParseDecimal(s)
	if err != nil {
		return 0, order.Invalid("price", "%s", err.Error())
	}
	return d, nil
}
