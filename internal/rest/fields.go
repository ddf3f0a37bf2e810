package rest

import "strings"

// restNames are the REST names of the domain's input fields, where they
// differ: the domain names fields as GraphQL does (userId, items[2].price),
// the REST mirror in snake case, with the items inside payload.
var restNames = map[string]string{
	"externalId":      "external_id",
	"userId":          "user_id",
	"expectedEventId": "expected_event_id",
}

// restField returns the REST name of the domain field f, for error.field:
// "userId" is "user_id", "items[2].price" is "payload.items[2].price".
func restField(f string) string {
	if n, ok := restNames[f]; ok {
		return n
	}
	if f == "items" || strings.HasPrefix(f, "items[") {
		return "payload." + f
	}
	return f
}
