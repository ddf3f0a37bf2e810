#!/usr/bin/env bash
# One-shot topic setup for compose.yaml's kafka-init service (apache/kafka
# image, whose CLI tools live in /opt/kafka/bin). Idempotent: safe to run on
# every `docker compose up`.
#
#   BOOTSTRAP_SERVER  broker to talk to             (default kafka:9092)
#   TOPICS            space-separated topic names   (default "orders order-acks")
#   TOPIC_PARTITIONS  partitions per topic          (default 8)
#
# A topic that already exists with fewer partitions is grown to
# TOPIC_PARTITIONS (the same as the in-process dev broker does). Kafka cannot
# shrink a topic, so a larger existing count is kept and reported.
set -euo pipefail

bootstrap="${BOOTSTRAP_SERVER:-kafka:9092}"
topics="${TOPICS:-orders order-acks}"
partitions="${TOPIC_PARTITIONS:-8}"
kt=/opt/kafka/bin/kafka-topics.sh

for topic in $topics; do
  "$kt" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1

  have=$("$kt" --bootstrap-server "$bootstrap" --describe --topic "$topic" |
    sed -n 's/.*PartitionCount:[[:space:]]*\([0-9][0-9]*\).*/\1/p' | head -n 1)
  if [[ -z "$have" ]]; then
    echo "kafka-init: cannot read the partition count of $topic" >&2
    exit 1
  fi
  if (( have < partitions )); then
    echo "kafka-init: growing $topic from $have to $partitions partitions"
    "$kt" --bootstrap-server "$bootstrap" --alter --topic "$topic" --partitions "$partitions"
  elif (( have > partitions )); then
    echo "kafka-init: $topic has $have partitions (> $partitions requested); Kafka cannot shrink a topic, keeping $have" >&2
  fi
  echo "kafka-init: topic $topic ready"
done
