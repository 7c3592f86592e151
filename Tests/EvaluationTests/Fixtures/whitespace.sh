#!/usr/bin/env bash
# Surrounding spaces, tabs and blank lines.
printf "  \t 0.375 \t \n\n   \n"
