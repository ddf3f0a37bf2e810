package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"

	"github.com/orderstream/orderstream/internal/order"
)

// itemsInput is the payload of a create or an update, as sent.
type itemsInput struct {
	Items []itemInput `json:"items"`
}

type itemInput struct {
	Name     string         `json:"name"`
	Quantity jsonInt        `json:"quantity"`
	Price    *order.Decimal `json:"price"` // nil: missing, refused
}

// items returns the items of in; a missing price is EINVALID (a zero
// Decimal would pass for a price of 0.00: schemathesis found it).
func (in itemsInput) items() ([]order.Item, error) {
	if in.Items == nil {
		return nil, nil
	}
	out := make([]order.Item, len(in.Items))
	for i, it := range in.Items {
		if it.Price == nil {
			return nil, order.Invalid(fmt.Sprintf("items[%d].price", i), "is required")
		}
		out[i] = order.Item{Name: it.Name, Quantity: int64(it.Quantity), Price: *it.Price}
	}
	return out, nil
}

// jsonInt is an integer as JSON Schema's integer type reads it: any JSON
// number with a zero fraction (2, 2.0, 2e0), where encoding/json's int
// types refuse all but 2 (schemathesis found it). Numbers outside int64
// are clamped, so that the domain's range check names the field. A
// fraction or a non-number is refused as int64 refuses it.
type jsonInt int64

func (q *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil // as for int64: the zero value, refused by validation
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || len(s) > 64 || s[0] == '"' || !r.IsInt() {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeFor[int64]()}
	}
	n := r.Num()
	switch {
	case n.IsInt64():
		*q = jsonInt(n.Int64())
	case n.Sign() > 0:
		*q = math.MaxInt64
	default:
		*q = math.MinInt64
	}
	return nil
}

// ptr returns the expected event id as the domain takes it (nil: none).
func (q *jsonInt) ptr() *int {
	if q == nil {
		return nil
	}
	n := int(*q)
	return &n
}
