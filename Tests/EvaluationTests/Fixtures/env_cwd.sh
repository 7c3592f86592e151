#!/usr/bin/env bash
# Reads its score from the environment; records its working directory.
pwd > cwd.txt
echo "$FIXTURE_SCORE"
