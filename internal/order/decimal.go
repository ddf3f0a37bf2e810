package order

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Decimal is an exact amount of money with two decimal places, held as an
// integer number of hundredths (cents). Money is never a float in OrderStream.
type Decimal int64

// MaxPrice is the largest accepted item price: 999,999,999.99.
const MaxPrice Decimal = 99_999_999_999

// MaxTotal is the largest order total: 999,999,999,999,999.99, which fits
// numeric(20,2) in PostgreSQL with room to spare.
const MaxTotal Decimal = 99_999_999_999_999_999

var (
	errDecimalSyntax    = errors.New("must be a decimal number such as 29.99")
	errDecimalPrecision = errors.New("must have at most 2 decimal places")
	errDecimalRange     = errors.New("is too large")
)

// ParseDecimal parses a plain decimal literal ("29.99", "-3", "0.5", "1.50").
// Exponents, "NaN", "Inf", thousands separators and more than two
// significant decimal places are rejected.
func ParseDecimal(s string) (Decimal, error) {
	if s == "" || len(s) > 64 {
		return 0, errDecimalSyntax
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return 0, errDecimalSyntax
	}
	if hasDot && frac == "" {
		return 0, errDecimalSyntax
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, errDecimalSyntax
			}
		}
	}
	// Trailing zeros beyond the second place carry no value: 1.500 == 1.50.
	trimmed := strings.TrimRight(frac, "0")
	if len(trimmed) > 2 {
		return 0, errDecimalPrecision
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 17 {
		return 0, errDecimalRange
	}
	var units int64
	if intPart != "" {
		v, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil {
			return 0, errDecimalRange
		}
		units = v
	}
	cents := int64(0)
	switch len(trimmed) {
	case 1:
		cents = int64(trimmed[0]-'0') * 10
	case 2:
		cents = int64(trimmed[0]-'0')*10 + int64(trimmed[1]-'0')
	}
	if units > (math.MaxInt64-cents)/100 {
		return 0, errDecimalRange
	}
	v := units*100 + cents
	if neg {
		v = -v
	}
	return Decimal(v), nil
}

// String formats d with exactly two decimal places: "29.99", "-0.50", "3.00".
func (d Decimal) String() string {
	v := int64(d)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u/100, 10) + "." + strconv.FormatUint(u%100/10, 10) + strconv.FormatUint(u%10, 10)
	if neg {
		return "-" + s
	}
	return s
}

// MarshalJSON writes d as a JSON number with two decimal places, exactly.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON accepts a JSON number (29.99) or a string ("29.99"). Errors
// are EINVALID on the field "price", the only money clients send.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return Invalid("price", "%s", err.Error())
	}
	*d = v
	return nil
}

// MulInt returns d*n, reporting false when the product overflows int64.
func (d Decimal) MulInt(n int64) (Decimal, bool) {
	if n == 0 || d == 0 {
		return 0, true
	}
	if (n == -1 && d == math.MinInt64) || (d == -1 && n == math.MinInt64) {
		return 0, false // MinInt64 / -1 overflows, so the check below would miss it
	}
	p := int64(d) * n
	if p/n != int64(d) {
		return 0, false
	}
	return Decimal(p), true
}
