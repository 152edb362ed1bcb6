#!/bin/sh
# The with-source example's service: prints its greeting from the bundled source and,
# when FORGE_SERVE_PORT is set (forge up -e FORGE_SERVE_PORT=80 -p HOST:80), serves
# it over HTTP with busybox httpd until FORGE_SERVE_SECONDS (default 60) have passed.
echo "$GREETING (cwd $(pwd), who=$WHO)"
if [ -n "$FORGE_SERVE_PORT" ]; then
    mkdir -p /tmp/www
    echo "$GREETING" >/tmp/www/index.html
    httpd -f -p "$FORGE_SERVE_PORT" -h /tmp/www &
    echo "greet: serving on port $FORGE_SERVE_PORT"
    sleep "${FORGE_SERVE_SECONDS:-60}"
    kill $! 2>/dev/null
fi
exit "${GREET_EXIT:-0}"
