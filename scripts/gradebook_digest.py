"""Digest of an nbgrader gradebook, one entry per owner of its rows.

    python scripts/gradebook_digest.py gradebook.db

Prints a JSON object: "<student>/<assignment>" -> SHA-256 of that submission's
rows (submitted_assignment, its submitted_notebook rows and their grade and
comment rows), "student:<id>" -> the student's own row, and "course" -> every
other row (assignments, notebooks, cells, ...). `npm run course -- autograde`
compares digests taken before and after each submission is graded: only that
submission's own entries may change, so a notebook that rewrites someone
else's grades is caught (and the gradebook is put back).
"""
import hashlib
import json
import sqlite3
import sys
from collections import defaultdict

OWNED = {"submitted_assignment", "submitted_notebook", "grade", "comment", "student"}


def rows(db, table):
    return [tuple(r) for r in db.execute('SELECT * FROM "%s" ORDER BY 1' % table)]


def main(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    digests = defaultdict(hashlib.sha256)

    def add(owner, table, row):
        digests[owner].update(json.dumps([table, row], default=str).encode())

    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    for table in tables:
        if table not in OWNED:
            for row in rows(db, table):
                add("course", table, row)
    for row in rows(db, "student"):
        add("student:%s" % row[0], "student", row)
    owner_of_submission = {}
    for sid, student, assignment in db.execute(
            "SELECT s.id, s.student_id, a.name FROM submitted_assignment s JOIN assignment a ON a.id = s.assignment_id"):
        owner_of_submission[sid] = "%s/%s" % (student, assignment)
    for row in rows(db, "submitted_assignment"):
        add(owner_of_submission.get(row[0], "course"), "submitted_assignment", row)
    owner_of_notebook = {}
    for nid, sid in db.execute("SELECT id, assignment_id FROM submitted_notebook"):
        owner_of_notebook[nid] = owner_of_submission.get(sid, "course")
    for row in rows(db, "submitted_notebook"):
        add(owner_of_notebook.get(row[0], "course"), "submitted_notebook", row)
    for table in ("grade", "comment"):
        for row in db.execute('SELECT notebook_id, * FROM "%s" ORDER BY id' % table):
            add(owner_of_notebook.get(row[0], "course"), table, tuple(row[1:]))
    json.dump({owner: d.hexdigest() for owner, d in sorted(digests.items())}, sys.stdout, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gradebook_digest.py GRADEBOOK.db")
    main(sys.argv[1])
