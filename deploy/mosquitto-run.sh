#!/bin/sh
# The broker container's entrypoint: Mosquitto, reloaded (SIGHUP, no restart, no client of an unchanged
# account dropped) whenever `outfall broker sync` rewrites the password file or ACL in the shared volume.
# SIGTERM is passed on so Mosquitto saves its persistent store before the container stops.
set -u
AUTH=/mosquitto/auth
mosquitto -c /mosquitto/config/mosquitto.conf &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
touch /tmp/loaded
while kill -0 "$pid" 2>/dev/null; do
    sleep "${OUTFALL_BROKER_WATCH_S:-5}" &
    wait $!
    if [ "$AUTH/passwd" -nt /tmp/loaded ] || [ "$AUTH/acl" -nt /tmp/loaded ]; then
        touch /tmp/loaded
        kill -HUP "$pid"
    fi
done
wait "$pid"
