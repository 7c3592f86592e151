#!/usr/bin/env bash
# Ignores its deadline; on SIGTERM prints a score and exits 0 (still a timeout).
trap "echo 0.99; exit 0" TERM
echo started
sleep 30 &
wait
