// Package config is the one home of OrderStream's environment contract: the
// settings of the API (API), the worker (Worker) and the local stack
// (Infra), each variable's name and default written once. LoadAPI,
// LoadWorker and LoadInfra read them and report every bad variable at
// once; Env renders a struct back to environment lines, so that launchers
// (internal/devstack) build processes from the struct.
//
// Adding a setting is a field in the struct and one line in its bind
// method.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

// Defaults shared by several settings and by the launchers: they match
// `make infra` (cmd/devstack).
const (
	DefaultHost        = "127.0.0.1" // what `make run` and `make infra` listen on
	DefaultPGPort      = 55432
	DefaultKafkaPort   = 9092
	DefaultPartitions  = 8
	DefaultDatabase    = "orderstream"
	DefaultOrdersTopic = "orders"
	DefaultAcksTopic   = "order-acks"
	DefaultDLQTopic    = "orders-dlq"
	DefaultGroup       = "orderstream-worker"

	DefaultAckTimeout    = order.DefaultAckTimeout
	DefaultRecoveryDelay = order.DefaultRecoveryDelay
	DefaultDrainDelay    = 5 * time.Second
	// The API's group commit of creates (docs/SCALING.md, "Creates in one
	// statement"): up to 64 creates per statement, 1 statement at a time
	// (and another beside it once it has run for DefaultBatchStallAfter).
	DefaultCreateBatchMax      = 64
	DefaultCreateBatchInFlight = 1
	// Lookups in one statement (docs/SCALING.md): up to 64 lookups per
	// statement, 2 statements at a time.
	DefaultLookupBatchMax      = 64
	DefaultLookupBatchInFlight = 2
	// DefaultBatchStallAfter: a statement of gathered creates or lookups
	// that has run this long lets another start beside it.
	DefaultBatchStallAfter = 10 * time.Millisecond
	// DefaultProduceTimeout: how long the API waits for Kafka to store an
	// event before it answers UNAVAILABLE (the event is stored: the
	// recovery loop sends it).
	DefaultProduceTimeout  = kafka.DefaultProduceTimeout
	DefaultStartupTimeout  = 2 * time.Minute
	DefaultWorkerBatchSize = 256
	DefaultMaxAttempts     = 5
	// DefaultKafkaMaxMessageBytes is sarama's default Producer.MaxMessageBytes,
	// just under the broker's default message.max.bytes (1048588 bytes).
	DefaultKafkaMaxMessageBytes = 1_000_000

	// GraphQL request bounds.
	DefaultGraphQLMaxDepth         = graph.DefaultMaxDepth
	DefaultGraphQLMaxFields        = graph.DefaultMaxFields
	DefaultGraphQLMaxComplexity    = graph.DefaultMaxComplexity
	DefaultGraphQLTokenLimit       = graph.DefaultTokenLimit
	DefaultGraphQLMaxResponseBytes = graph.DefaultMaxResponseBytes
)

// DefaultDatabaseURL is the superuser of `make infra`'s database.
var DefaultDatabaseURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", DefaultPGPort, DefaultDatabase)

// DefaultBrokers is `make infra`'s broker.
var DefaultBrokers = []string{fmt.Sprintf("127.0.0.1:%d", DefaultKafkaPort)}

// Lookup returns the value of an environment variable, "" when unset.
type Lookup func(name string) string

// OSEnv is the process environment.
var OSEnv Lookup = os.Getenv

// Lines is a Lookup over environment lines ("NAME=value"); the last line
// of a name wins, as in os/exec.
func Lines(lines ...string) Lookup {
	m := map[string]string{}
	for _, kv := range lines {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(name string) string { return m[name] }
}

// Without returns env without the lines of the variables in names: a
// launcher's own environment minus what the struct it renders decides.
func Without(env []string, names []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, k)
	})
}

// flag modifies how a variable is read.
type flag int

const (
	// derived: the default depends on another setting (APP_ENV,
	// ACK_TIMEOUT). Env leaves such a variable out while it has that
	// default, so that it is derived again where the lines are read.
	derived flag = 1 << iota
	// zeroOK: a duration may be 0.
	zeroOK
)

func has(flags []flag, f flag) bool { return slices.Contains(flags, f) }

// mode is what a binder does with each variable.
type mode int

const (
	loading mode = iota // read the variable into the field, or the default
	render              // write the field as a line
	names               // list the names
)

// binder visits the settings of a struct, one call per variable, in an
// order where a derived default comes after what it is derived from.
type binder struct {
	mode  mode
	get   Lookup
	errs  []error
	lines []string
	names []string
}

func (b *binder) value(name string) string { return strings.TrimSpace(b.get(name)) }

func (b *binder) bad(name, v, want string) {
	b.errs = append(b.errs, fmt.Errorf("%s=%q is not %s", name, v, want))
}

// visit handles one variable: raw is the field as text, def the default
// as text, parse stores text (or the default when unset) in the field.
func (b *binder) visit(name, raw, def string, flags []flag, parse func(v string) (ok bool, want string)) {
	switch b.mode {
	case names:
		b.names = append(b.names, name)
	case render:
		if has(flags, derived) && raw == def {
			return
		}
		b.lines = append(b.lines, name+"="+raw)
	case loading:
		v := b.value(name)
		if v == "" {
			parse("")
			return
		}
		if ok, want := parse(v); !ok {
			b.bad(name, v, want)
		}
	}
}

func (b *binder) str(p *string, name, def string, flags ...flag) {
	b.visit(name, *p, def, flags, func(v string) (bool, string) {
		if v == "" {
			v = def
		}
		*p = v
		return true, ""
	})
}

func (b *binder) integer(p *int, name string, def int, flags ...flag) {
	b.visit(name, strconv.Itoa(*p), strconv.Itoa(def), flags, func(v string) (bool, string) {
		if v == "" {
			*p = def
			return true, ""
		}
		n, err := strconv.Atoi(v)
		*p = n
		return err == nil, "an integer"
	})
}

func (b *binder) boolean(p *bool, name string, def bool, flags ...flag) {
	b.visit(name, strconv.FormatBool(*p), strconv.FormatBool(def), flags, func(v string) (bool, string) {
		switch strings.ToLower(v) {
		case "":
			*p = def
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			*p = def
			return false, "true or false"
		}
		return true, ""
	})
}

func (b *binder) duration(p *time.Duration, name string, def time.Duration, flags ...flag) {
	b.visit(name, p.String(), def.String(), flags, func(v string) (bool, string) {
		if v == "" {
			*p = def
			return true, ""
		}
		d, err := time.ParseDuration(v)
		*p = d
		if has(flags, zeroOK) {
			return err == nil && d >= 0, "a duration such as 5s (0 allowed)"
		}
		return err == nil && d > 0, "a positive duration such as 30s"
	})
}

func (b *binder) list(p *[]string, name string, def []string, flags ...flag) {
	b.visit(name, strings.Join(*p, ","), strings.Join(def, ","), flags, func(v string) (bool, string) {
		if v == "" {
			*p = slices.Clone(def)
			return true, ""
		}
		var out []string
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*p = out
		return true, ""
	})
}

// err joins every bad variable into one error.
func (b *binder) err() error {
	if len(b.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(b.errs))
	for i, e := range b.errs {
		msgs[i] = e.Error()
	}
	return errors.New("bad configuration: " + strings.Join(msgs, "; "))
}

// settings is a configuration struct: a pointer with a bind method.
type settings[T any] interface {
	*T
	bind(*binder)
}

// load reads a configuration struct from get.
func load[T any, P settings[T]](get Lookup) (T, error) {
	var c T
	err := loadInto(get, P(&c).bind)
	return c, err
}

// nameList lists the variables of a configuration struct.
func nameList[T any, P settings[T]]() []string {
	var c T
	return namesOf(P(&c).bind)
}

// loadInto fills a struct through its bind method from get.
func loadInto(get Lookup, bind func(*binder)) error {
	if get == nil {
		get = OSEnv
	}
	b := &binder{mode: loading, get: get}
	bind(b)
	return b.err()
}

func renderOf(bind func(*binder)) []string {
	b := &binder{mode: render}
	bind(b)
	return b.lines
}

func namesOf(bind func(*binder)) []string {
	b := &binder{mode: names}
	bind(b)
	return b.names
}
