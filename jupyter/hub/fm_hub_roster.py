"""The roster (CSV lines username,role,name), read and checked before anything
is created: every problem found is said at once (UsageError, exit 2).
"""

import csv
import grp
import os
import pwd
import re

from fm_hub_state import UsageError


ROLES = ("instructor", "student")
# A Unix login name that JupyterHub keeps as it is (lowercase) and nbgrader can
# put in its exchange's file names (no "+", no dots or spaces).
USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def read_roster(file: str) -> list:
    """[{username, role, name}] from a CSV file; UsageError listing every problem found."""
    try:
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise UsageError("--roster %s: no such file" % file)
    except IsADirectoryError:
        raise UsageError("--roster %s is a folder, not a CSV file" % file)
    except UnicodeDecodeError as e:
        raise UsageError("--roster %s is not UTF-8 text (%s)" % (file, e))
    except csv.Error as e:
        raise UsageError("--roster %s is not a CSV file: %s" % (file, e))
    problems, people, seen = [], [], {}
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not people and not problems and [c.lower() for c in cells[:3]] == ["username", "role", "name"]:
            continue  # header
        where = "%s line %d" % (os.path.basename(file), number)
        if len(cells) < 2 or len(cells) > 3:
            problems.append("%s: expected username,role,name, got %d field(s): %s" % (where, len(cells), ",".join(row)))
            continue
        username, role = cells[0], cells[1].lower()
        name = cells[2] if len(cells) == 3 and cells[2] else username
        if not USERNAME.match(username):
            why = ("use lowercase letters" if USERNAME.match(username.lower()) else
                   "a username is 1-32 characters: a lowercase letter, then lowercase letters, digits, '-' or '_'")
            problems.append("%s: invalid username %r (%s)" % (where, username, why))
        elif username in seen:
            problems.append("%s: duplicate username %r (already on line %d)" % (where, username, seen[username]))
        else:
            seen[username] = number
        if role not in ROLES:
            problems.append("%s: role %r is not instructor or student" % (where, cells[1]))
        people.append({"username": username, "role": role, "name": name})
    if not problems and not people:
        problems.append("%s has nobody in it (lines: username,role,name)" % file)
    if not problems and not any(p["role"] == "instructor" for p in people):
        problems.append("%s has no instructor (someone must release and grade the assignments)" % file)
    if problems:
        raise UsageError("the roster is not usable, nothing was changed:\n  " + "\n  ".join(problems))
    return people


def check_accounts(people: list, created: dict) -> None:
    """Names already taken on this machine by accounts this hub did not create."""
    problems = []
    for p in people:
        u = p["username"]
        if u in created:
            continue
        try:
            pwd.getpwnam(u)
            problems.append("%r is an existing account on this machine (not created by this hub): pick another "
                            "username" % u)
            continue
        except KeyError:
            pass
        try:
            grp.getgrnam(u)
            problems.append("%r is the name of an existing group on this machine: pick another username" % u)
        except KeyError:
            pass
    if problems:
        raise UsageError("the roster is not usable, nothing was changed:\n  " + "\n  ".join(problems))
