#!/usr/bin/env bash
# Exits 0 without writing the JSON file it was supposed to write.
echo done
