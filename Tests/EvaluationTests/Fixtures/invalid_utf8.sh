#!/usr/bin/env bash
# The last line is not UTF-8.
printf "\xff\xfe 0.5\n"
