#!/bin/sh
# A shell pipeline workload: list, filter, sort, count.
set -e
ls -1 /usr/bin | grep -v '^x' | sort -r | head -n 50 | wc -l
