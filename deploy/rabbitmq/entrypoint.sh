#!/bin/sh
# Entry point of the rabbitmq service: adds the one user to the topology definitions, then starts
# the image's own entry point.
#
# Why: when a blank node loads definitions at boot (load_definitions in rabbitmq.conf), RabbitMQ
# does not create its default user (RABBITMQ_DEFAULT_USER/PASS are ignored), so the definitions
# must carry the user. The password is not committed anywhere: it comes from the environment and
# the merged file lives on a tmpfs (see docker-compose.yml). The definitions are loaded at every
# boot, so changing the password in .env and restarting the broker updates it.
set -eu

template=${IMGPIPE_DEFINITIONS_TEMPLATE:-/etc/rabbitmq/imgpipe/definitions.json}
out=${IMGPIPE_DEFINITIONS_FILE:-/run/imgpipe/definitions.json}
user=${IMGPIPE_RABBITMQ_USER:?IMGPIPE_RABBITMQ_USER is required}
password=${IMGPIPE_RABBITMQ_PASSWORD:?IMGPIPE_RABBITMQ_PASSWORD is required}

for value in "$user" "$password"; do
    case $value in
        *[[:cntrl:]]*)
            echo "entrypoint: the RabbitMQ user and password must not contain control characters" >&2
            exit 1
            ;;
    esac
done

json_string() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

if [ "$(head -c 1 "$template")" != "{" ]; then
    echo "entrypoint: $template must be a JSON object (python -m deploy.gen_definitions)" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
umask 077  # the merged file holds the password: readable by its owner only
{
    printf '{"users": [{"name": "%s", "password": "%s", "tags": "administrator"}],\n' \
        "$(json_string "$user")" "$(json_string "$password")"
    printf ' "permissions": [{"user": "%s", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],\n' \
        "$(json_string "$user")"
    tail -c +2 "$template"
} >"$out"
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown rabbitmq:rabbitmq "$out"  # the server runs as rabbitmq (the image's entry point drops to it)
fi

exec docker-entrypoint.sh "$@"
