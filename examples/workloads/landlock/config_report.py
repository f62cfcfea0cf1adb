#!/usr/bin/env python3
"""Read a JSON config, write one output file per section, print a summary.

    python3 config_report.py CONFIG.json OUT_DIR

The output directory is created if missing; files in it are rewritten on every run.
"""
import json
import os
import sys


def main():
    config, outdir = sys.argv[1], sys.argv[2]
    with open(config, encoding="utf-8") as f:
        cfg = json.load(f)
    os.makedirs(outdir, exist_ok=True)
    for name, items in sorted(cfg["sections"].items()):
        with open(os.path.join(outdir, f"{name}.txt"), "w", encoding="utf-8") as f:
            for item in items:
                f.write(f"{cfg['prefix']}{item}\n")
    with open(os.path.join(outdir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({k: len(v) for k, v in cfg["sections"].items()}, f, sort_keys=True)
    print(f"wrote {len(cfg['sections']) + 1} files")


if __name__ == "__main__":
    main()
