package order

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits.
const (
	MaxExternalIDLen = 255
	MaxItems         = 1000
	MaxQuantity      = 1_000_000
	MaxNameLen       = 500
	MaxReasonLen     = 1000
)

// CreateInput is a request to create an order.
type CreateInput struct {
	ExternalID string
	UserID     string
	Items      []Item
}

// UpdateInput is a request to replace the items of an order.
type UpdateInput struct {
	ExternalID      string
	UserID          string
	Items           []Item
	ExpectedEventID *int
}

// CancelInput is a request to cancel an order.
type CancelInput struct {
	ExternalID      string
	UserID          string
	Reason          string
	ExpectedEventID *int
}

// Validate checks in and canonicalises its user id. It returns an EINVALID *Error.
func (in *CreateInput) Validate() error {
	return validateCommon(&in.UserID, in.ExternalID, in.Items, true)
}

// Validate checks in and canonicalises its user id. It returns an EINVALID *Error.
func (in *UpdateInput) Validate() error {
	if err := validateCommon(&in.UserID, in.ExternalID, in.Items, true); err != nil {
		return err
	}
	return validateExpected(in.ExpectedEventID)
}

// Validate checks in and canonicalises its user id. It returns an EINVALID *Error.
func (in *CancelInput) Validate() error {
	if err := validateCommon(&in.UserID, in.ExternalID, nil, false); err != nil {
		return err
	}
	if err := validateText("reason", in.Reason, 0, MaxReasonLen); err != nil {
		return err
	}
	return validateExpected(in.ExpectedEventID)
}

// ValidateKey checks an (externalId, userId) pair used for a lookup and
// returns the canonical user id.
func ValidateKey(externalID, userID string) (string, error) {
	uid, err := ParseUserID(userID)
	if err != nil {
		return "", err
	}
	if err := ValidateExternalID(externalID); err != nil {
		return "", err
	}
	return uid, nil
}

func validateCommon(userID *string, externalID string, items []Item, withItems bool) error {
	uid, err := ValidateKey(externalID, *userID)
	if err != nil {
		return err
	}
	*userID = uid
	if withItems {
		return ValidateItems(items)
	}
	return nil
}

func validateExpected(v *int) error {
	if v != nil && *v < 0 {
		return Invalid("expectedEventId", "must be 0 or more")
	}
	return nil
}

// ParseUserID checks that s is a UUID (8-4-4-4-12 hex digits) and returns it
// in lowercase, the form stored and compared.
func ParseUserID(s string) (string, error) {
	if len(s) != 36 {
		return "", Invalid("userId", "must be a UUID")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", Invalid("userId", "must be a UUID")
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return "", Invalid("userId", "must be a UUID")
			}
		}
	}
	return strings.ToLower(s), nil
}

// ValidateExternalID checks that s is 1 to 255 printable characters.
func ValidateExternalID(s string) error {
	if s == "" {
		return Invalid("externalId", "must not be empty")
	}
	if !utf8.ValidString(s) {
		return Invalid("externalId", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxExternalIDLen {
		return Invalid("externalId", "must be at most %d characters", MaxExternalIDLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return Invalid("externalId", "must contain printable characters only")
		}
	}
	return nil
}

// ValidateItems checks the items of an order and that their total fits.
func ValidateItems(items []Item) error {
	if len(items) == 0 {
		return Invalid("items", "must list at least one item")
	}
	if len(items) > MaxItems {
		return Invalid("items", "must list at most %d items", MaxItems)
	}
	// The field names are built only for an error: this runs for every
	// item of every create and update, and again in the worker.
	field := func(i int, name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
	for i, it := range items {
		if p := textProblem(it.Name, 1, MaxNameLen); p != "" {
			return Invalid(field(i, "name"), "%s", p)
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return Invalid(field(i, "quantity"), "must be between 1 and %d", MaxQuantity)
		}
		if it.Price < 0 {
			return Invalid(field(i, "price"), "must not be negative")
		}
		if it.Price > MaxPrice {
			return Invalid(field(i, "price"), "must be at most %s", MaxPrice)
		}
	}
	if _, ok := Total(items); !ok {
		return Invalid("items", "order total must be at most %s", MaxTotal)
	}
	return nil
}

func validateText(field, s string, minLen, maxLen int) error {
	if p := textProblem(s, minLen, maxLen); p != "" {
		return Invalid(field, "%s", p)
	}
	return nil
}

// textProblem says what is wrong with text s, "" when nothing is.
func textProblem(s string, minLen, maxLen int) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(s)
	if n < minLen {
		return "must not be empty"
	}
	if n > maxLen {
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "must not contain control characters"
		}
	}
	return ""
}
