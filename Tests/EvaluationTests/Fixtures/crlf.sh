#!/usr/bin/env bash
# Windows line endings.
printf "log line\r\n0.625\r\n\r\n"
