#!/bin/sh
# Container entry point: first run creates /data/config.yaml (from the example) and, once it is
# edited, /data/registration.yaml; after that it runs the bridge. State lives in /data.
set -eu
cd /data

status=0
python -m bridge.setup_local --config /data/config.yaml --registration /data/registration.yaml \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "Edit the files in the /data volume as described above, then start the container again." >&2
    exit "$status"
fi

exec python -m bridge --config /data/config.yaml --registration /data/registration.yaml "$@"
