#!/bin/sh
# Container entry point. The first start writes /data/config.yaml (the example, listening on
# 0.0.0.0) and stops; once it is edited, the next start writes /data/registration.yaml and stops;
# after that every start runs the bridge. All state lives in /data. Options are passed to the
# bridge (`--help` only prints help); a command instead of options is run as it is.
#
#   MATRIX_MSN_DATA   the data directory (default /data)
#   PYTHON            the interpreter (default python)
#
# Exit status: 0 after a first-run stop (edit the files, start again), 13 when the data
# directory is missing or not writable, otherwise the bridge's (see `--help`).
set -eu

DATA="${MATRIX_MSN_DATA:-/data}"
PYTHON="${PYTHON:-python}"
export MATRIX_MSN_LAUNCHER=docker

case "${1:-}" in
-* | "") ;;
*) exec "$@" ;;
esac
for arg in "$@"; do
	case "$arg" in
	-h | --help) exec "$PYTHON" -m bridge "$@" ;;
	esac
done

if [ ! -d "$DATA" ]; then
	echo "error: $DATA does not exist: mount a directory there (docker run -v \"\$PWD/data:$DATA\" ...)" >&2
	exit 13
fi
if [ ! -w "$DATA" ]; then
	echo "error: $DATA is not writable by the bridge (uid $(id -u)): on the host run \`chown -R $(id -u):$(id -g) <the directory mounted at $DATA>\`, or start the container with --user set to the directory's owner" >&2
	exit 13
fi
cd "$DATA"

status=0
"$PYTHON" -m bridge.setup_local --config "$DATA/config.yaml" --registration "$DATA/registration.yaml" ||
	status=$?
case "$status" in
0) ;;
2 | 3 | 4) exit 0 ;; # a first-run step: the message above says what to edit
*) exit "$status" ;;
esac

exec "$PYTHON" -m bridge --config "$DATA/config.yaml" --registration "$DATA/registration.yaml" "$@"
