package order_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderstream/orderstream/internal/order"
)

const (
	validUserID = "123e4567-e89b-12d3-a456-426614174000"
	upperUserID = "123E4567-E89B-12D3-A456-426614174000"
)

// checkInvalid fails t unless err is an *order.Error with code
// BAD_USER_INPUT and the field wantField.
func checkInvalid(t *testing.T, err error, wantField string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error; want BAD_USER_INPUT on %q", wantField)
	}
	var e *order.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %T %v; want *order.Error", err, err)
	}
	if e.Code != order.EINVALID {
		t.Errorf("got code %q; want %q (error: %v)", e.Code, order.EINVALID, err)
	}
	if e.Field != wantField {
		t.Errorf("got field %q; want %q (error: %v)", e.Field, wantField, err)
	}
}

// checkErr checks err against wantField: "" means no error is expected.
func checkErr(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("got error %v; want nil", err)
		}
		return
	}
	checkInvalid(t, err, wantField)
}

func item(name string, qty int64, price order.Decimal) order.Item {
	return order.Item{Name: name, Quantity: qty, Price: price}
}

func items(n int) []order.Item {
	out := make([]order.Item, n)
	for i := range out {
		out[i] = item(fmt.Sprintf("item %d", i), 1, 100)
	}
	return out
}

func intPtr(v int) *int { return &v }

func TestParseUserID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "lowercase", in: validUserID, want: validUserID},
		{name: "uppercase is lowercased", in: upperUserID, want: validUserID},
		{name: "mixed case is lowercased", in: "123e4567-E89B-12d3-A456-426614174000", want: validUserID},
		{name: "nil uuid", in: "00000000-0000-0000-0000-000000000000", want: "00000000-0000-0000-0000-000000000000"},
		{name: "empty", in: "", wantErr: true},
		{name: "too short", in: validUserID[:35], wantErr: true},
		{name: "too long", in: validUserID + "0", wantErr: true},
		{name: "no hyphens", in: "123e4567e89b12d3a456426614174000", wantErr: true},
		{name: "braces", in: "{" + validUserID + "}", wantErr: true},
		{name: "urn", in: "urn:uuid:" + validUserID, wantErr: true},
		{name: "hyphen misplaced", in: "123e456-7e89b-12d3-a456-426614174000", wantErr: true},
		{name: "non-hex digit", in: "123g4567-e89b-12d3-a456-426614174000", wantErr: true},
		{name: "space instead of hyphen", in: "123e4567 e89b-12d3-a456-426614174000", wantErr: true},
		{name: "multi-byte rune", in: "123é567-e89b-12d3-a456-426614174000", wantErr: true},
		{name: "sql injection", in: "' OR 1=1--'-e89b-12d3-a456-426614174000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.ParseUserID(tt.in)
			if tt.wantErr {
				checkInvalid(t, err, "userId")
				if got != "" {
					t.Errorf("ParseUserID(%q): got %q with the error; want \"\"", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUserID(%q): got error %v; want %q", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("ParseUserID(%q): got %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateExternalID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", false},
		{"one char", "a", true},
		{"typical", "order-2024-0001", true},
		{"255 ascii", strings.Repeat("a", 255), true},
		{"256 ascii", strings.Repeat("a", 256), false},
		{"255 two-byte runes", strings.Repeat("é", 255), true},
		{"256 two-byte runes", strings.Repeat("é", 256), false},
		{"255 four-byte runes", strings.Repeat("😀", 255), true},
		{"256 four-byte runes", strings.Repeat("😀", 256), false},
		{"inner space", "order 1", true},
		{"NUL byte", "a\x00b", false},
		{"tab", "a\tb", false},
		{"newline", "a\nb", false},
		{"escape", "\x1b[31mred", false},
		{"DEL", "a\x7f", false},
		{"C1 control NEL", "a\u0085b", false},
		{"invalid UTF-8", "a\xffb", false},
		{"truncated UTF-8", "\xe2\x82", false},
		{"RTL override", "invoice\u202Etxt.exe", false},
		{"zero-width space", "a\u200Bb", false},
		{"emoji", "🎉order😀", true},
		{"emoji with variation selector", "❤️", true},
		{"arabic", "طلب-١٢٣", true},
		{"chinese", "订单123", true},
		{"sql or", "' OR 1=1--", true},
		{"sql drop", "'; DROP TABLE orders;--", true},
		{"html", "<script>alert(1)</script>", true},
		{"percent and backslash", `100%\_%`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := order.ValidateExternalID(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateExternalID(%q): got %v; want nil", tt.in, err)
				}
				return
			}
			checkInvalid(t, err, "externalId")
		})
	}
}

func TestValidateItems(t *testing.T) {
	maxLine := item("max", order.MaxQuantity, order.MaxPrice)
	tests := []struct {
		name      string
		items     []order.Item
		wantField string // "" for valid
	}{
		{"nil", nil, "items"},
		{"empty", []order.Item{}, "items"},
		{"one item", items(1), ""},
		{"1000 items", items(1000), ""},
		{"1001 items", items(1001), "items"},
		{"quantity 0", []order.Item{item("a", 0, 100)}, "items[0].quantity"},
		{"quantity -1", []order.Item{item("a", -1, 100)}, "items[0].quantity"},
		{"quantity max", []order.Item{item("a", order.MaxQuantity, 100)}, ""},
		{"quantity 1_000_001", []order.Item{item("a", 1_000_001, 100)}, "items[0].quantity"},
		{"free item", []order.Item{item("a", 1, 0)}, ""},
		{"negative price at index 2", []order.Item{item("a", 1, 1), item("b", 1, 1), item("c", 1, -1)}, "items[2].price"},
		{"max price", []order.Item{item("a", 1, order.MaxPrice)}, ""},
		{"price above max", []order.Item{item("a", 1, order.MaxPrice+1)}, "items[0].price"},
		{"empty name", []order.Item{item("", 1, 100)}, "items[0].name"},
		{"500-rune name", []order.Item{item(strings.Repeat("é", 500), 1, 100)}, ""},
		{"501-rune name", []order.Item{item(strings.Repeat("é", 501), 1, 100)}, "items[0].name"},
		{"501-byte 500-rune name", []order.Item{item(strings.Repeat("a", 499)+"é", 1, 100)}, ""},
		{"NUL in name", []order.Item{item("a\x00b", 1, 100)}, "items[0].name"},
		{"escape in name", []order.Item{item("\x1b[2J", 1, 100)}, "items[0].name"},
		{"carriage return in name", []order.Item{item("a\rb", 1, 100)}, "items[0].name"},
		{"C1 control in name", []order.Item{item("a\u0085b", 1, 100)}, "items[0].name"},
		{"newline and tab in name", []order.Item{item("line 1\nline\t2", 1, 100)}, ""},
		{"invalid UTF-8 name", []order.Item{item("a\xffb", 1, 100)}, "items[0].name"},
		{"sql in name", []order.Item{item("'); DELETE FROM orders;--", 1, 100)}, ""},
		{"first bad item wins", []order.Item{item("a", 1, 1), item("b", 0, 1), item("c", 1, 1), item("d", 1, -1)}, "items[1].quantity"},
		{"name checked before quantity", []order.Item{item("", 0, -1)}, "items[0].name"},
		{"one max line fits the total", []order.Item{maxLine}, ""},
		{"total overflow", []order.Item{maxLine, maxLine}, "items"},
		{"999 small lines and one max line", append(items(999), maxLine), ""},
		{"total exactly max", []order.Item{maxLine, item("b", 1, 999_999)}, ""},
		{"total max plus a cent", []order.Item{maxLine, item("b", 1, 1_000_000)}, "items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, order.ValidateItems(tt.items), tt.wantField)
		})
	}
}

func TestCreateInputValidate(t *testing.T) {
	tests := []struct {
		name      string
		in        order.CreateInput
		wantField string
	}{
		{"valid", order.CreateInput{ExternalID: "o-1", UserID: validUserID, Items: items(2)}, ""},
		{"uppercase user id", order.CreateInput{ExternalID: "o-1", UserID: upperUserID, Items: items(1)}, ""},
		{"bad user id", order.CreateInput{ExternalID: "o-1", UserID: "bob", Items: items(1)}, "userId"},
		{"empty external id", order.CreateInput{ExternalID: "", UserID: validUserID, Items: items(1)}, "externalId"},
		{"no items", order.CreateInput{ExternalID: "o-1", UserID: validUserID}, "items"},
		{"bad item", order.CreateInput{ExternalID: "o-1", UserID: validUserID, Items: []order.Item{item("a", 1, -1)}}, "items[0].price"},
		{"user id checked first", order.CreateInput{ExternalID: "", UserID: "bob"}, "userId"},
		{"external id before items", order.CreateInput{ExternalID: "", UserID: validUserID}, "externalId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Validate()
			checkErr(t, err, tt.wantField)
			if err == nil && in.UserID != validUserID {
				t.Errorf("UserID after Validate: got %q; want %q", in.UserID, validUserID)
			}
		})
	}
}

func TestUpdateInputValidate(t *testing.T) {
	tests := []struct {
		name      string
		in        order.UpdateInput
		wantField string
	}{
		{"valid without expected", order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: items(1)}, ""},
		{"valid expected 0", order.UpdateInput{ExternalID: "o-1", UserID: upperUserID, Items: items(1), ExpectedEventID: intPtr(0)}, ""},
		{"valid expected 7", order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: items(1), ExpectedEventID: intPtr(7)}, ""},
		{"negative expected", order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: items(1), ExpectedEventID: intPtr(-1)}, "expectedEventId"},
		{"bad user id", order.UpdateInput{ExternalID: "o-1", UserID: "", Items: items(1)}, "userId"},
		{"bad external id", order.UpdateInput{ExternalID: "o\x00", UserID: validUserID, Items: items(1)}, "externalId"},
		{"no items", order.UpdateInput{ExternalID: "o-1", UserID: validUserID}, "items"},
		{"1001 items", order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: items(1001)}, "items"},
		{"items before expected", order.UpdateInput{ExternalID: "o-1", UserID: validUserID, ExpectedEventID: intPtr(-1)}, "items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Validate()
			checkErr(t, err, tt.wantField)
			if err == nil && in.UserID != validUserID {
				t.Errorf("UserID after Validate: got %q; want %q", in.UserID, validUserID)
			}
		})
	}
}

func TestCancelInputValidate(t *testing.T) {
	tests := []struct {
		name      string
		in        order.CancelInput
		wantField string
	}{
		{"valid without reason", order.CancelInput{ExternalID: "o-1", UserID: validUserID}, ""},
		{"valid with reason", order.CancelInput{ExternalID: "o-1", UserID: upperUserID, Reason: "changed my mind", ExpectedEventID: intPtr(0)}, ""},
		{"reason with newline and tab", order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: "a\n\tb"}, ""},
		{"1000-rune reason", order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: strings.Repeat("é", 1000)}, ""},
		{"1001-rune reason", order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: strings.Repeat("é", 1001)}, "reason"},
		{"NUL in reason", order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: "a\x00"}, "reason"},
		{"invalid UTF-8 reason", order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: "\xc3"}, "reason"},
		{"negative expected", order.CancelInput{ExternalID: "o-1", UserID: validUserID, ExpectedEventID: intPtr(-1)}, "expectedEventId"},
		{"bad user id", order.CancelInput{ExternalID: "o-1", UserID: "x"}, "userId"},
		{"bad external id", order.CancelInput{ExternalID: strings.Repeat("a", 256), UserID: validUserID}, "externalId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Validate()
			checkErr(t, err, tt.wantField)
			if err == nil && in.UserID != validUserID {
				t.Errorf("UserID after Validate: got %q; want %q", in.UserID, validUserID)
			}
		})
	}
}

func TestValidateKey(t *testing.T) {
	uid, err := order.ValidateKey("o-1", upperUserID)
	if err != nil || uid != validUserID {
		t.Fatalf("ValidateKey: got %q, %v; want %q, nil", uid, err, validUserID)
	}
	_, err = order.ValidateKey("", "nope")
	checkInvalid(t, err, "userId")
	_, err = order.ValidateKey("", validUserID)
	checkInvalid(t, err, "externalId")
}

func FuzzValidateCreate(f *testing.F) {
	f.Add("o-1", validUserID, "pen", int64(1), int64(2999), uint8(1))
	f.Add("' OR 1=1--", upperUserID, "a\x00", int64(0), int64(-1), uint8(3))
	f.Add("", "", "", int64(-1), int64(0), uint8(0))
	f.Add("طلب", "123E4567-e89b-12D3-a456-42661417400F", strings.Repeat("x", 501), int64(order.MaxQuantity), int64(order.MaxPrice), uint8(2))
	f.Add("\u202E", validUserID, "ok", int64(1_000_001), int64(order.MaxPrice+1), uint8(200))
	f.Fuzz(func(t *testing.T, externalID, userID, name string, qty, price int64, n uint8) {
		in := order.CreateInput{ExternalID: externalID, UserID: userID}
		for i := 0; i < int(n%8); i++ {
			in.Items = append(in.Items, order.Item{Name: name, Quantity: qty, Price: order.Decimal(price)})
		}
		err := in.Validate()
		if err != nil {
			var e *order.Error
			if !errors.As(err, &e) || e.Code != order.EINVALID || e.Field == "" {
				t.Fatalf("Validate: got %#v; want an *order.Error with code %s and a field", err, order.EINVALID)
			}
			return
		}
		if in.UserID != strings.ToLower(in.UserID) {
			t.Fatalf("UserID after Validate: got %q; want lowercase", in.UserID)
		}
		if canon, err := order.ParseUserID(in.UserID); err != nil || canon != in.UserID {
			t.Fatalf("ParseUserID(%q) after Validate: got %q, %v", in.UserID, canon, err)
		}
		if !strings.EqualFold(in.UserID, userID) {
			t.Fatalf("UserID after Validate: got %q from %q", in.UserID, userID)
		}
		total, ok := order.Total(in.Items)
		if !ok {
			t.Fatalf("Total of valid items %v: not ok", in.Items)
		}
		if total < 0 || total > order.MaxTotal {
			t.Fatalf("Total of valid items: got %d; want between 0 and %d", total, order.MaxTotal)
		}
	})
}
