#!/usr/bin/env bash
# A well-behaved evaluator: logs on stderr and stdout, the score on the last line.
echo "loading checkpoint" >&2
echo "evaluating 100 items"
echo "0.8125"
