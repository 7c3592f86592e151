#!/usr/bin/env bash
# An earlier line is not UTF-8; the last one is a number.
printf "bad \xff\xfe line\n0.5\n"
