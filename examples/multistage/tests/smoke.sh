#!/bin/sh
# Runs in the dev image only: checks that the page is served.
printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080 | grep -q multistage && echo "smoke: ok"
