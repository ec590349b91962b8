#!/usr/bin/env bash
# Create the topics of proto/topics.txt ("name partitions" per line, # comments) with the
# scripts of the apache/kafka image. Run by docker-compose.yml's one-shot "topics" service:
#   create-topics.sh BOOTSTRAP TOPICS_FILE
set -euo pipefail
bootstrap=${1:-kafka:9092}
file=${2:-/jiesu/topics.txt}
bin=/opt/kafka/bin
existing=$("$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list)
while read -r name partitions _; do
    case $name in ''|'#'*) continue ;; esac
    if grep -qxF -- "$name" <<<"$existing"; then
        echo "[topics] $name: already there"
        continue
    fi
    "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" --replication-factor 1
done <"$file"
