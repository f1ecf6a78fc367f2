"""Score of one graded submission, from an nbgrader gradebook.

    python scripts/gradebook_score.py gradebook.db STUDENT ASSIGNMENT

Prints {"score": S, "max": M}: the sum over the submission's graded cells of
the manual score where an instructor gave one, else the automatic score.
Read-only (the gradebook may be written by other graders at the same time).
"""
import json
import sqlite3
import sys


def main(path, student, assignment):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    score, top = db.execute(
        """SELECT COALESCE(SUM(COALESCE(g.manual_score, g.auto_score, 0) + COALESCE(g.extra_credit, 0)), 0),
                  COALESCE(SUM(c.max_score), 0)
           FROM grade g
           JOIN grade_cells c ON c.id = g.cell_id
           JOIN submitted_notebook n ON n.id = g.notebook_id
           JOIN submitted_assignment s ON s.id = n.assignment_id
           JOIN assignment a ON a.id = s.assignment_id
           WHERE s.student_id = ? AND a.name = ?""",
        (student, assignment),
    ).fetchone()
    print(json.dumps({"score": round(score, 2), "max": round(top, 2)}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: gradebook_score.py GRADEBOOK STUDENT ASSIGNMENT")
    main(*sys.argv[1:])
