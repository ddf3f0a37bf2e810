package graph

// StandardIntrospection is standardIntrospection, for the external tests.
var StandardIntrospection = standardIntrospection
