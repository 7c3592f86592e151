#!/usr/bin/env bash
# Two numbers where stdout_strict expects exactly one.
echo 0.5
echo 0.7
