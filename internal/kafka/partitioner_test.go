package kafka_test

import (
	"hash/crc32"
	"math"
	"testing"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
)

func TestModuloPartitionerIsIDModN(t *testing.T) {
	p := kafka.NewModuloPartitioner("orders")
	ids := []int64{0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 123456789, math.MaxInt32, math.MaxInt64 - 1, math.MaxInt64}
	for id := int64(0); id < 500; id++ {
		ids = append(ids, id)
	}
	for _, n := range []int32{1, 3, 8, 64} {
		for _, id := range ids {
			got, err := p.Partition(&sarama.ProducerMessage{Topic: "orders", Key: kafka.Key(id)}, n)
			if err != nil {
				t.Fatalf("Partition(id %d, %d partitions): %v", id, n, err)
			}
			if want := int32(id % int64(n)); got != want {
				t.Errorf("Partition(id %d, %d partitions): got %d; want %d", id, n, got, want)
			}
		}
	}
}

func TestModuloPartitionerSameKeySamePartition(t *testing.T) {
	p := kafka.ModuloPartitioner{}
	for _, id := range []int64{1, 42, 9_999_999} {
		first, err := p.Partition(&sarama.ProducerMessage{Key: kafka.Key(id)}, 8)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			got, err := p.Partition(&sarama.ProducerMessage{Key: kafka.Key(id)}, 8)
			if err != nil || got != first {
				t.Fatalf("Partition(id %d) call %d: got %d, %v; want %d, nil", id, i, got, err, first)
			}
		}
		// The same id as raw bytes lands on the same partition too.
		got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(kafka.Key(id).(sarama.StringEncoder))}, 8)
		if err != nil || got != first {
			t.Errorf("Partition(id %d as ByteEncoder): got %d, %v; want %d, nil", id, got, err, first)
		}
	}
}

func TestModuloPartitionerErrors(t *testing.T) {
	tests := []struct {
		name string
		key  sarama.Encoder
		n    int32
	}{
		{"no key", nil, 8},
		{"empty key", sarama.StringEncoder(""), 8},
		{"letters", sarama.StringEncoder("abc"), 8},
		{"uuid", sarama.StringEncoder("123e4567-e89b-12d3-a456-426614174000"), 8},
		{"negative id", sarama.StringEncoder("-1"), 8},
		{"plus sign", sarama.StringEncoder("+1"), 8},
		{"space", sarama.StringEncoder(" 1"), 8},
		{"decimal", sarama.StringEncoder("1.0"), 8},
		{"above max int64", sarama.StringEncoder("9223372036854775808"), 8},
		{"bytes not a number", sarama.ByteEncoder("x1"), 8},
		{"no partitions", kafka.Key(1), 0},
		{"negative partitions", kafka.Key(1), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kafka.ModuloPartitioner{}.Partition(&sarama.ProducerMessage{Key: tt.key}, tt.n)
			if err == nil {
				t.Errorf("Partition: got %d, nil; want an error", got)
			}
		})
	}
}

func TestModuloPartitionerRequiresConsistency(t *testing.T) {
	if !kafka.NewModuloPartitioner("orders").RequiresConsistency() {
		t.Error("RequiresConsistency: got false; want true")
	}
}

func TestModuloPartitionerDistribution(t *testing.T) {
	const partitions, ids = 8, 8000
	p := kafka.ModuloPartitioner{}
	counts := make([]int, partitions)
	for id := int64(1); id <= ids; id++ {
		got, err := p.Partition(&sarama.ProducerMessage{Key: kafka.Key(id)}, partitions)
		if err != nil {
			t.Fatal(err)
		}
		counts[got]++
	}
	for i, c := range counts {
		if c != ids/partitions {
			t.Errorf("partition %d: got %d messages; want %d (all counts: %v)", i, c, ids/partitions, counts)
		}
	}
}

func BenchmarkPartitioner(b *testing.B) {
	const partitions = 8
	msgs := make([]*sarama.ProducerMessage, 1024)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: "orders", Key: kafka.Key(int64(1_000_000 + i*7919))}
	}
	for _, bc := range []struct {
		name string
		p    sarama.Partitioner
	}{
		{"modulo", kafka.NewModuloPartitioner("orders")},
		{"crc32", sarama.NewCustomHashPartitioner(crc32.NewIEEE)("orders")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.p.Partition(msgs[i&(len(msgs)-1)], partitions); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
