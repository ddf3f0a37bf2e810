// Package faults is OrderStream's fault suite: it runs the real API and
// worker binaries against their own PostgreSQL cluster and Kafka-protocol
// broker, drives them with concurrent clients, injects a fault (a process
// killed, the broker or the database restarted or made flaky, a poison
// message, racing requests) and then checks in PostgreSQL that every order
// OrderStream accepted reached a final status exactly once.
//
// The package holds tests only; see docs/RELIABILITY.md for the cases, how
// to run them (go test ./faults/, make faults) and the figures measured.
package faults
