package order_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/orderstream/orderstream/internal/order"
)

func TestParseDecimalValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want order.Decimal
	}{
		{"zero", "0", 0},
		{"zero with decimals", "0.00", 0},
		{"negative zero", "-0", 0},
		{"two decimals", "29.99", 2999},
		{"one decimal", "29.9", 2990},
		{"trailing zeros beyond cents", "1.500", 150},
		{"many trailing zeros", "1.2300000", 123},
		{"plus sign", "+1", 100},
		{"negative one decimal", "-3.5", -350},
		{"negative cent", "-0.01", -1},
		{"one cent", "0.01", 1},
		{"ten cents", "0.10", 10},
		{"leading zeros", "007", 700},
		{"integer", "42", 4200},
		// The code accepts a missing integer part (".5", "-.5") but rejects a
		// missing fraction ("5."); see TestParseDecimalInvalid.
		{"missing integer part", ".5", 50},
		{"negative missing integer part", "-.5", -50},
		{"max price", "999999999.99", order.MaxPrice},
		{"max price plus a cent", "1000000000.00", order.MaxPrice + 1},
		{"max total", "999999999999999.99", order.MaxTotal},
		{"max int64", "92233720368547758.07", math.MaxInt64},
		{"minus max int64", "-92233720368547758.07", -math.MaxInt64},
		{"64 chars", strings.Repeat("0", 63) + "1", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.ParseDecimal(tt.in)
			if err != nil {
				t.Fatalf("ParseDecimal(%q): got error %v; want %d", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("ParseDecimal(%q): got %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDecimalInvalid(t *testing.T) {
	const (
		syntax    = "decimal number"
		precision = "2 decimal places"
		tooLarge  = "too large"
	)
	tests := []struct {
		name    string
		in      string
		wantErr string // substring of the error message
	}{
		{"empty", "", syntax},
		{"letters", "abc", syntax},
		{"exponent", "1e3", syntax},
		{"upper exponent", "1E3", syntax},
		{"NaN", "NaN", syntax},
		{"Inf", "Inf", syntax},
		{"plus Inf", "+Inf", syntax},
		{"Infinity", "Infinity", syntax},
		{"thousands separator", "1,000", syntax},
		{"decimal comma", "29,99", syntax},
		{"underscore", "1_000", syntax},
		{"hex", "0x10", syntax},
		{"three decimals", "1.234", precision},
		{"three decimals negative", "-0.001", precision},
		{"leading space", " 1", syntax},
		{"trailing space", "1 ", syntax},
		{"double minus", "--1", syntax},
		{"plus minus", "+-1", syntax},
		{"minus only", "-", syntax},
		{"plus only", "+", syntax},
		{"dot only", ".", syntax},
		{"minus dot", "-.", syntax},
		{"missing fraction", "5.", syntax},
		{"two dots", "1.2.3", syntax},
		{"minus in fraction", "1.-5", syntax},
		{"arabic-indic digit", "١", syntax},
		{"fullwidth digit", "１", syntax},
		{"NUL", "1\x00", syntax},
		{"65 chars", strings.Repeat("0", 64) + "1", syntax},
		{"65 chars with decimals", "1." + strings.Repeat("0", 63), syntax},
		{"18 integer digits", "100000000000000000", tooLarge},
		{"max int64 plus a cent", "92233720368547758.08", tooLarge},
		{"minus max int64 minus a cent", "-92233720368547758.08", tooLarge},
		{"int64 overflow", "9223372036854775808", tooLarge},
		{"huge", strings.Repeat("9", 40), tooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.ParseDecimal(tt.in)
			if err == nil {
				t.Fatalf("ParseDecimal(%q): got %d, nil; want error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDecimal(%q): got error %q; want it to contain %q", tt.in, err, tt.wantErr)
			}
			if got != 0 {
				t.Errorf("ParseDecimal(%q): got value %d with the error; want 0", tt.in, got)
			}
		})
	}
}

func TestDecimalString(t *testing.T) {
	tests := []struct {
		in   order.Decimal
		want string
	}{
		{0, "0.00"},
		{5, "0.05"},
		{-5, "-0.05"},
		{10, "0.10"},
		{-50, "-0.50"},
		{100, "1.00"},
		{2999, "29.99"},
		{-2999, "-29.99"},
		{order.MaxPrice, "999999999.99"},
		{order.MaxTotal, "999999999999999.99"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("Decimal(%d).String(): got %q; want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestDecimalMarshalJSON(t *testing.T) {
	tests := []struct {
		in   order.Decimal
		want string
	}{
		{0, "0.00"},
		{10, "0.10"},
		{2999, "29.99"},
		{-50, "-0.50"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("json.Marshal(%d): got %s; want %s", int64(tt.in), b, tt.want)
			}
		})
	}
	b, err := json.Marshal(order.Item{Name: "pen", Quantity: 2, Price: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"pen","quantity":2,"price":0.10}`; string(b) != want {
		t.Errorf("json.Marshal(Item): got %s; want %s", b, want)
	}
}

func TestDecimalUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    order.Decimal
		wantErr bool
	}{
		{name: "number", in: `29.99`, want: 2999},
		{name: "string", in: `"29.99"`, want: 2999},
		{name: "number ten cents", in: `0.10`, want: 10},
		{name: "string one decimal", in: `"0.1"`, want: 10},
		{name: "negative integer", in: `-3`, want: -300},
		{name: "string negative", in: `"-0.50"`, want: -50},
		{name: "number three decimals", in: `29.999`, wantErr: true},
		{name: "string three decimals", in: `"29.999"`, wantErr: true},
		{name: "exponent", in: `1e3`, wantErr: true},
		{name: "string letters", in: `"abc"`, wantErr: true},
		{name: "empty string", in: `""`, wantErr: true},
		{name: "bool", in: `true`, wantErr: true},
		{name: "object", in: `{}`, wantErr: true},
		// null is rejected rather than being a no-op (see the report).
		{name: "null", in: `null`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got order.Decimal
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("json.Unmarshal(%s): got %d, nil; want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("json.Unmarshal(%s): got error %v; want %d", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("json.Unmarshal(%s): got %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecimalJSONRoundTrip(t *testing.T) {
	values := []order.Decimal{0, 1, 10, 99, 100, 2999, -1, -50, -2999, order.MaxPrice, order.MaxTotal, math.MaxInt64, -math.MaxInt64}
	for _, d := range values {
		t.Run(d.String(), func(t *testing.T) {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var got order.Decimal
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", b, err)
			}
			if got != d {
				t.Errorf("number round trip of %d: got %d; want %d", int64(d), got, d)
			}
			// The string form ("29.99") reads back the same.
			quoted, err := json.Marshal(d.String())
			if err != nil {
				t.Fatal(err)
			}
			got = 0
			if err := json.Unmarshal(quoted, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", quoted, err)
			}
			if got != d {
				t.Errorf("string round trip of %d: got %d; want %d", int64(d), got, d)
			}
		})
	}
}

func TestDecimalMulInt(t *testing.T) {
	tests := []struct {
		name   string
		d      order.Decimal
		n      int64
		want   order.Decimal
		wantOK bool
	}{
		{"simple", 2999, 3, 8997, true},
		{"zero decimal", 0, math.MaxInt64, 0, true},
		{"zero factor", math.MaxInt64, 0, 0, true},
		{"one", math.MaxInt64, 1, math.MaxInt64, true},
		{"negative factor", 2999, -2, -5998, true},
		{"minus one times max", -1, math.MaxInt64, -math.MaxInt64, true},
		{"min times one", math.MinInt64, 1, math.MinInt64, true},
		{"max price times max quantity", order.MaxPrice, order.MaxQuantity, 99_999_999_999_000_000, true},
		{"max times two", math.MaxInt64, 2, 0, false},
		{"half max plus one times two", math.MaxInt64/2 + 1, 2, 0, false},
		{"2^32 times 2^31", 1 << 32, 1 << 31, 0, false},
		{"2^31 times 2^32", 1 << 31, 1 << 32, 0, false},
		{"minus one times min", -1, math.MinInt64, 0, false},
		{"min times two", math.MinInt64, 2, 0, false},
		{"large negative product", -(1 << 40), 1 << 30, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.d.MulInt(tt.n)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("Decimal(%d).MulInt(%d): got %d, %v; want %d, %v", int64(tt.d), tt.n, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestMulIntMinInt64TimesMinusOne fails against the current code:
// MinInt64 * -1 = 2^63 overflows int64, but the check p/n != d does not see it
// because in Go MinInt64 / -1 == MinInt64, so MulInt returns (MinInt64, true).
func TestMulIntMinInt64TimesMinusOne(t *testing.T) {
	got, ok := order.Decimal(math.MinInt64).MulInt(-1)
	if ok {
		t.Errorf("Decimal(MinInt64).MulInt(-1): got %d, true; want 0, false (the product 2^63 overflows int64)", int64(got))
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{
		"0", "29.99", "29.9", "1.500", "+1", "-3.5", ".5", "5.", "-0", "1e3", "NaN", "Inf",
		"1,000", "1.234", " 1", "--1", "1.2.3", "92233720368547758.07", "92233720368547758.08",
		"999999999999999.99", strings.Repeat("9", 65), "-.01", "00000.10",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := order.ParseDecimal(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDecimal(%q): got %d with error %v; want 0", s, d, err)
			}
			return
		}
		str := d.String()
		back, err := order.ParseDecimal(str)
		if err != nil {
			t.Fatalf("ParseDecimal(%q) = %d, whose String() %q does not parse: %v", s, d, str, err)
		}
		if back != d {
			t.Fatalf("ParseDecimal(%q) = %d; String() %q re-parses to %d", s, d, str, back)
		}
		dot := strings.IndexByte(str, '.')
		if dot < 0 || len(str)-dot-1 != 2 {
			t.Fatalf("Decimal(%d).String() = %q; want exactly two decimal places", d, str)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("json.Marshal(%d): %v", d, err)
		}
		var j order.Decimal
		if err := json.Unmarshal(b, &j); err != nil || j != d {
			t.Fatalf("JSON round trip of %d via %s: got %d, %v", d, b, j, err)
		}
	})
}
