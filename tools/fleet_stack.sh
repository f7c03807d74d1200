#!/usr/bin/env bash
# The fleet side in containers (containers/compose.yaml): broker, two aggregators, dashboard.
#
#   bash tools/fleet_stack.sh up                 build images (cached), init, start; prints the URLs
#   bash tools/fleet_stack.sh init               write config, secrets, data dirs (kept if present)
#   bash tools/fleet_stack.sh add-user NAME      a broker user (a device id, nic-fleet, ...): prints
#                                                its password file for mqtt.password_file
#   bash tools/fleet_stack.sh down               stop and remove the containers (data stays in
#                                                NIC_FLEET_DIR)
#   bash tools/fleet_stack.sh compose ARGS...    any compose command (ps, logs, kill ...)
#
# Env: NIC_FLEET_DIR (stack dir: config, secrets, data, dashboard; default containers/fleet),
#      NIC_MQTT_PORT (1883), NIC_DASHBOARD_PORT (8088), NIC_AGG_A_PORT (9108), NIC_AGG_B_PORT
#      (9109): loopback ports; NIC_RENDER_INTERVAL (10 s), NIC_COMMIT_INTERVAL (0.5 s: the
#      aggregators' LMDB commit, i.e. acknowledgement, interval); NIC_COMPOSE (default podman-compose,
#      else `docker compose`); NIC_FLEET_PROJECT (compose project name, default nic-fleet).
# CONTAINERS_CONF defaults to containers/containers.conf (runc, cgroupfs, no default ulimits).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/containers/containers.conf}
FLEET=${NIC_FLEET_DIR:-$ROOT/containers/fleet}
mkdir -p "$FLEET" && FLEET=$(cd "$FLEET" && pwd)
export NIC_FLEET_DIR=$FLEET
PROJECT=${NIC_FLEET_PROJECT:-nic-fleet}
UID_NIC=10001
say() { echo "fleet_stack.sh: $*" >&2; }

engine() {  # the container engine that runs one-off helper containers
  if command -v podman >/dev/null 2>&1; then podman "$@"; else docker "$@"; fi
}
compose() {
  local c=${NIC_COMPOSE:-}
  if [ -z "$c" ]; then
    if command -v podman-compose >/dev/null 2>&1; then c=podman-compose; else c="docker compose"; fi
  fi
  # shellcheck disable=SC2086  # "docker compose" is two words
  $c -p "$PROJECT" -f "$ROOT/containers/compose.yaml" "$@"
}

password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# mosquitto.passwd is made from the per-user password files (secrets/users/NAME.password) by the
# broker image's own mosquitto_passwd -U (hashes a user:password file in place), so the host
# needs no mosquitto; the plain file never leaves secrets/ and is removed at once.
write_passwd() {
  local plain=$FLEET/secrets/passwd.plain f
  umask 077
  : > "$plain"
  for f in "$FLEET"/secrets/users/*.password; do
    printf '%s:%s\n' "$(basename "$f" .password)" "$(cat "$f")" >> "$plain"
  done
  engine run --rm --user 0 --network none -v "$FLEET/secrets:/s" --entrypoint /usr/bin/mosquitto_passwd \
    "localhost/nic-edge-broker:${NIC_EDGE_IMAGE_TAG:-latest}" -U /s/passwd.plain 2>/dev/null
  # rewritten in place, not renamed: a running broker's bind mount holds the file's inode
  cat "$plain" > "$FLEET/secrets/mosquitto.passwd"
  rm -f "$plain"
  chown "$UID_NIC:$UID_NIC" "$FLEET/secrets/mosquitto.passwd"
  chmod 600 "$FLEET/secrets/mosquitto.passwd"
}

add_user() {  # $1 = broker user name; keeps an existing password
  local f=$FLEET/secrets/users/$1.password
  case "$1" in ''|*[!A-Za-z0-9._-]*) say "user names: letters, digits, . _ - only ($1)"; exit 2 ;; esac
  mkdir -p "$FLEET/secrets/users"
  [ -s "$f" ] || (umask 077; password > "$f")
}

init() {
  mkdir -p "$FLEET/config" "$FLEET/secrets/users" "$FLEET/data/broker" "$FLEET/data/aggregator-a" \
           "$FLEET/data/aggregator-b" "$FLEET/dashboard"
  chmod 700 "$FLEET/secrets"
  local name
  for name in a b; do
    sed -e "s/@NAME@/$name/" -e "s/@RENDER_INTERVAL@/${NIC_RENDER_INTERVAL:-10}/" \
        -e "s/@COMMIT_INTERVAL@/${NIC_COMMIT_INTERVAL:-0.5}/" \
      containers/fleet-config/aggregator.toml.in > "$FLEET/config/aggregator-$name.toml"
  done
  add_user nic-aggregator
  add_user nic-fleet
  install -m 600 -o "$UID_NIC" -g "$UID_NIC" "$FLEET/secrets/users/nic-aggregator.password" \
    "$FLEET/secrets/aggregator.password"
  write_passwd
  # the containers run as uid 10001 and write only here
  chown -R "$UID_NIC:$UID_NIC" "$FLEET/data" "$FLEET/dashboard"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    bash tools/build_images.sh
    init
    compose up -d "$@"
    say "broker    127.0.0.1:${NIC_MQTT_PORT:-1883} (users and passwords: $FLEET/secrets/users/)"
    say "dashboard http://127.0.0.1:${NIC_DASHBOARD_PORT:-8088}/ (fleet.json beside it)"
    say "metrics   http://127.0.0.1:${NIC_AGG_A_PORT:-9108}/metrics and :${NIC_AGG_B_PORT:-9109}/metrics"
    ;;
  init) init ;;
  add-user)
    [ $# -eq 1 ] || { say "usage: fleet_stack.sh add-user NAME"; exit 2; }
    add_user "$1"; write_passwd
    # a running broker re-reads its password file on SIGHUP (tini passes it on to mosquitto);
    # found by the compose labels both podman-compose and docker compose set
    for c in $(engine ps -q --filter "label=com.docker.compose.project=$PROJECT" \
                 --filter label=com.docker.compose.service=broker); do
      engine kill --signal HUP "$c" >/dev/null
    done
    echo "$FLEET/secrets/users/$1.password"
    ;;
  # -v: the containers' anonymous volumes only; the stack's state is in bind mounts and stays
  down) compose down -v "$@" ;;
  compose) compose "$@" ;;
  -h|--help|'') sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$cmd" ] || exit 2 ;;
  *) say "unknown command $cmd (see --help)"; exit 2 ;;
esac
