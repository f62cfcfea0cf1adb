#!/usr/bin/env python3
"""A sqlite3 database with its rollback journal: load rows from a CSV, query them.

    python3 sqlite_journal.py INPUT.csv DB_FILE

The database is rebuilt on every run, in rollback-journal mode (``DB_FILE-journal`` is
created and deleted by each transaction).
"""
import csv
import sqlite3
import sys


def main():
    src, db = sys.argv[1], sys.argv[2]
    with open(src, newline="", encoding="utf-8") as f:
        rows = [(r["name"], int(r["qty"])) for r in csv.DictReader(f)]
    con = sqlite3.connect(db)
    mode = con.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    with con:
        con.execute("DROP TABLE IF EXISTS items")
        con.execute("CREATE TABLE items (name TEXT, qty INTEGER)")
    for row in rows:
        with con:                              # one transaction (one journal) per row
            con.execute("INSERT INTO items VALUES (?, ?)", row)
    total = con.execute("SELECT COUNT(*), SUM(qty) FROM items").fetchone()
    con.close()
    print(f"journal_mode={mode} rows={total[0]} qty={total[1]}")


if __name__ == "__main__":
    main()
