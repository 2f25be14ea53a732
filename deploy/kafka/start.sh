#!/usr/bin/env bash
# The official apache/kafka image, started to authenticate and authorise as zaiban's local
# stack does (zaiban/infra/kafka.py): clients on the CLIENT listener with SASL/SCRAM-SHA-512,
# the controller's listener with SASL/PLAIN and the admin named here, the StandardAuthorizer
# allowing nothing without an ACL, and zaiban-admin its super user. No anonymous listener.
#
# SCRAM users live in the metadata log, so the admin's is added when the storage is formatted;
# the image's own start (`/etc/kafka/docker/run`) formats without users, so the storage is
# formatted here first (once: an existing one is left as it is), then the image starts as usual.
# Every other user and every ACL comes from `zaiban topics ensure` (the topics job).
#
# Departments connect from outside to the EXTERNAL listener: SASL_SSL, SCRAM inside TLS, with
# the broker's certificate from a PKCS#12 keystore issued by the deployment's own CA
# (`zaiban topics certificates`). (The listeners are named CLIENT and EXTERNAL: the image's
# own start checks advertised listeners named `...SSL://` or `SASL_...://` for settings of
# its own, which this script gives otherwise.)
#
# $1: a folder holding the admin's password in a file named zaiban-admin (compose's secrets,
# a mounted Kubernetes Secret; `zaiban topics credentials` makes it).
# $2: a folder holding broker.p12 and broker.p12-password (default: $1).
set -euo pipefail

credentials="${1:?usage: start.sh <folder holding zaiban-admin> [<folder holding broker.p12>]}"
tls="${2:-$credentials}"
admin="$(cat "$credentials/zaiban-admin")"
scram="org.apache.kafka.common.security.scram.ScramLoginModule"
plain="org.apache.kafka.common.security.plain.PlainLoginModule"

# the broker's own logins (to itself, to the controller), and the controller's one user
export KAFKA_LISTENER_NAME_CLIENT_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram required username=\"zaiban-admin\" password=\"$admin\";"
export KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG="$plain required username=\"zaiban-admin\" password=\"$admin\" user_zaiban-admin=\"$admin\";"
# departments: SCRAM users from the metadata log, inside TLS
export KAFKA_LISTENER_NAME_EXTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram required;"
export KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_TYPE=PKCS12
export KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_LOCATION="$tls/broker.p12"
export KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_PASSWORD="$(cat "$tls/broker.p12-password")"

umask 077
# formatting needs only where the data goes and who the controllers are
cat > /tmp/format.properties <<PROPERTIES
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
listeners=${KAFKA_LISTENERS}
advertised.listeners=${KAFKA_ADVERTISED_LISTENERS}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
log.dirs=${KAFKA_LOG_DIRS}
PROPERTIES
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" \
    --config /tmp/format.properties \
    --add-scram "SCRAM-SHA-512=[name=zaiban-admin,password=$admin]"

# what the health check logs in with
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$scram required username="zaiban-admin" password="$admin";
PROPERTIES

exec /etc/kafka/docker/run
