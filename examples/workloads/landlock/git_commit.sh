#!/bin/sh
# git init/add/commit of the files in SRC_DIR, in a fresh temporary directory (mktemp -d,
# removed at the end); prints the commit and the files it holds.
#     sh git_commit.sh SRC_DIR
# git reads no configuration beyond the repository's own: HOME is the temporary directory,
# the system and global files are switched off, and identity and dates are fixed so that the
# commit id is the same on every run.
set -eu
src=$1
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
export HOME="$repo" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=sandprint GIT_AUTHOR_EMAIL=sandprint@example.invalid
export GIT_COMMITTER_NAME=sandprint GIT_COMMITTER_EMAIL=sandprint@example.invalid
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
cd "$repo"
git init -q -b main .
cp "$src"/* .
git add .
git commit -q -m "first commit"
git log --format='%H %s'
git ls-files
