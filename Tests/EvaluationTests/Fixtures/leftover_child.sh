#!/usr/bin/env bash
# Leaves a child that holds stdout and stderr open, prints a score and exits.
sleep 60 &
echo $! > child.pid
echo 0.75
