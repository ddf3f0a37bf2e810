#!/usr/bin/env bash
# Makes sure the jars of the Apache Kafka broker are on this machine: the Go
# harness (internal/devstack/apache.go) runs the broker from them for tests,
# benchmarks and `make run KAFKA=apache`. Maven copies the runtime
# dependencies of deploy/kafka/pom.xml from Maven Central into
# .cache/kafka/<version>/libs (git-ignored), with deploy/kafka/log4j2.xml
# beside them. A stamp (the hash of both files) makes a second run a silent
# no-op. Needs Java 17+ and Maven.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pom=$root/deploy/kafka/pom.xml
log4j=$root/deploy/kafka/log4j2.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n 1)
if [ -z "$version" ]; then
	echo "ensure-kafka: no <kafka.version> in $pom" >&2
	exit 1
fi
cache=$root/.cache/kafka/$version
want=$(cat "$pom" "$log4j" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$want" ]; then
	exit 0
fi

if ! command -v java >/dev/null 2>&1; then
	echo "ensure-kafka: java not found: Apache Kafka $version needs Java 17 or newer (Debian: apt-get install -y openjdk-17-jre-headless)" >&2
	exit 1
fi
# "17.0.15" from `openjdk version "17.0.15" 2025-04-15`; "1.8.0_392" is 8.
major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\)[."].*/\1/p' | head -n 1)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
	echo "ensure-kafka: $(command -v java) is Java ${major:-of an unknown version}; Apache Kafka $version needs Java 17 or newer" >&2
	exit 1
fi
if ! command -v mvn >/dev/null 2>&1; then
	echo "ensure-kafka: mvn not found: the Kafka jars come from Maven Central through Maven (Debian: apt-get install -y maven)" >&2
	exit 1
fi

echo "ensure-kafka: installing Apache Kafka $version into ${cache#"$root"/} (Maven Central)..." >&2
mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
	-DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
	cat "$tmp/mvn.log" >&2
	echo "ensure-kafka: mvn dependency:copy-dependencies failed (above)" >&2
	exit 1
fi
# Kafka declares log4j2 compile-only: without an SLF4J binding of the
# slf4j-api major version that Maven resolved, the broker logs nothing.
slf4j=$(cd "$tmp/libs" && ls slf4j-api-*.jar 2>/dev/null | head -n 1)
case "$slf4j" in
slf4j-api-1.*) binding=log4j-slf4j-impl ;;
slf4j-api-2.*) binding=log4j-slf4j2-impl ;;
*) echo "ensure-kafka: no slf4j-api jar among the copied jars" >&2; exit 1 ;;
esac
if ! ls "$tmp/libs/$binding"-2.*.jar >/dev/null 2>&1; then
	echo "ensure-kafka: $slf4j needs the binding $binding in $pom" >&2
	exit 1
fi
cp "$log4j" "$tmp/log4j2.xml"
rm -f "$tmp/mvn.log"
echo "$want" >"$tmp/.stamp"
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "ensure-kafka: Apache Kafka $version ready ($(du -sh "$cache/libs" | cut -f1) in ${cache#"$root"/}/libs)" >&2
