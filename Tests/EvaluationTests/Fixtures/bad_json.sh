#!/usr/bin/env bash
# Writes a truncated JSON file.
printf "{\"score\": 0.5," > metrics.json
