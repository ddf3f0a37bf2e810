package config

// Infra is the configuration of the local stack that `make infra` and
// `make run` start (cmd/devstack); its flags default to these.
type Infra struct {
	// Host is what PostgreSQL and the API listen on (HOST; default
	// 127.0.0.1, so that a development stack is not reachable from the
	// network). The in-process broker always listens on 127.0.0.1.
	Host       string
	PGPort     int // PG_PORT
	KafkaPort  int // KAFKA_PORT
	Partitions int // KAFKA_PARTITIONS
	Port       int // PORT: the API's
}

func (c *Infra) bind(b *binder) {
	b.str(&c.Host, "HOST", DefaultHost)
	b.integer(&c.PGPort, "PG_PORT", DefaultPGPort)
	b.integer(&c.KafkaPort, "KAFKA_PORT", DefaultKafkaPort)
	b.integer(&c.Partitions, "KAFKA_PARTITIONS", DefaultPartitions)
	b.integer(&c.Port, "PORT", 8080)
}

// LoadInfra reads the local stack's configuration from get (nil: the
// process environment). The error names every bad variable.
func LoadInfra(get Lookup) (Infra, error) { return load[Infra](get) }
