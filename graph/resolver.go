// Package graph is the GraphQL adapter of OrderStream: the schema
// (schema.graphqls), thin resolvers over order.Service, converters and the
// error presenter. generated.go and model/models_gen.go come from gqlgen.
package graph

import "github.com/orderstream/orderstream/internal/order"

//go:generate go tool gqlgen generate

// Resolver is the root resolver: the dependencies of all resolvers.
type Resolver struct {
	Service *order.Service
}
