#!/usr/bin/env bash
# A JSON object with a score and sub-metrics on the last line.
echo "evaluating"
echo "{\"score\": 0.7, \"acc\": 0.8, \"f1\": 0.6, \"flag\": true, \"label\": \"0.5\", \"nested\": {\"bleu.4\": 0.3}}"
