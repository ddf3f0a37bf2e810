package graph

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// StandardIntrospection is standardIntrospection, for the external tests.
var StandardIntrospection = standardIntrospection

// ParamsFromBody is paramsFromBody on body; msg is its error's message, ""
// when it parsed.
func ParamsFromBody(body string) (p *graphql.RawParams, msg string) {
	p, bad := paramsFromBody(strings.NewReader(body))
	if bad != nil {
		return nil, bad.msg
	}
	return p, ""
}
