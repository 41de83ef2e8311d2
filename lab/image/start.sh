#!/bin/sh
# PID 1 of the lab test image: serve the container's hostname on $PORT (default 5000).
# busybox httpd as PID 1 ignores SIGTERM (every stop would wait 10 s), so it runs as
# a child and this script traps TERM/INT and stops it.
PORT=${PORT:-5000}
hostname > /www/index.html
busybox httpd -f -p "$PORT" -h /www &
HTTPD=$!
trap 'kill "$HTTPD" 2>/dev/null; exit 0' TERM INT
wait "$HTTPD"
