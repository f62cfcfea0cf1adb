#!/bin/bash
# A script run without a terminal: it tries /dev/tty (ENXIO: no controlling terminal, with or
# without a sandbox), serves a page and a 404 (ENOENT with or without a sandbox) like a web
# server would, from the directory given as $1.
if { : 3<>/dev/tty; } 2>/dev/null; then echo "terminal"; else echo "no terminal"; fi
cat "$1/index.html"
if cat "$1/missing" 2>/dev/null; then echo 200; else echo 404; fi
exit 0
