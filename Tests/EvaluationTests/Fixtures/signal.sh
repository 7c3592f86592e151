#!/usr/bin/env bash
# Prints a score, then dies of a signal.
echo 0.9
kill -KILL $$
