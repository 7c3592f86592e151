#!/usr/bin/env bash
# About 6 MB of log lines, then the score.
for i in $(seq 1 60000); do echo "step $i loss 0.123456789 lr 0.0001 ---------------------------------------------"; done
echo 0.4375
