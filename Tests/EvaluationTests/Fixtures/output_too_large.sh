#!/usr/bin/env bash
# Never stops writing to stdout.
yes 0.5
