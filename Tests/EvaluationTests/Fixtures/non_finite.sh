#!/usr/bin/env bash
# NaN is never a value.
echo nan
