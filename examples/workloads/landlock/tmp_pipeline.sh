#!/bin/sh
# A shell pipeline with temporary files: word counts of INPUT into OUTPUT.
#     sh tmp_pipeline.sh INPUT OUTPUT
# Intermediate results go to mktemp files and a mktemp directory (random names in $TMPDIR,
# /tmp by default) that are removed at the end.
set -eu
in=$1 out=$2
words=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$words" "$scratch"' EXIT
tr -cs 'A-Za-z' '\n' < "$in" | tr 'A-Z' 'a-z' | grep -v '^$' > "$words"
sort "$words" > "$scratch/sorted"
uniq -c "$scratch/sorted" | sort -k1,1nr -k2 > "$scratch/counts"
head -n 5 "$scratch/counts" > "$out"
wc -l < "$words"
