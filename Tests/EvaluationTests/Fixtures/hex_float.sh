#!/usr/bin/env bash
# A hexadecimal float: not a decimal number.
echo 0x1.8p-1
