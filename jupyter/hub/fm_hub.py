"""A class on JupyterHub on this machine: `npm run hub -- --roster FILE [...]` (scripts/hub.sh).

Starts a real JupyterHub (from .cache/hub/venv, scripts/setup-hub.sh) behind
configurable-http-proxy, on 127.0.0.1 by default, for the people in a roster
(CSV: username,role,name; role instructor or student):

- every roster line is a Unix user of its own (created here, run as root;
  home folder mode 700), so no one reads another's home or the instructor's
  course. Their servers are JupyterLab with the tslab kernel, started by
  JupyterHub's LocalProcessSpawner as that user (jupyter/hub/jupyterhub_config.py);
- each account gets a password issued here and printed once; only its hash is
  kept (``<state>/private/passwords.json``, mode 600), checked by the small
  authenticator in the hub's configuration;
- homes are set up once: the main notebook, ``node_modules`` (a link to the
  project's: the library, tslab, TensorFlow) and ``data/fashion-mnist`` (a link
  to the shared dataset cache, read-only); the instructor also gets a copy of
  the course (``~/course``: exercises/'s configuration and source/), which the
  Formgrader grades;
- nbgrader's exchange is ``<state>/exchange``, passed to every server as
  FM_NBGRADER_EXCHANGE (jupyter/fm_grading.py); students write nothing there:
  they submit through the hub's fm-exchange service (prepare_exchange);
- the state folder (default ``.hub/`` in the project, git-ignored) keeps the
  hub's database, cookie secret, passwords and the exchange, so stopping and
  starting the hub again keeps accounts, submissions and grades (grades live in
  the instructor's ``~/course/gradebook.db``);
- ``--teardown`` removes the Unix users this hub created (and their homes),
  after copying each instructor's course to ``<state>/kept/``, and the hub's
  private state and exchange.

Everything that can be wrong with the command line or the roster (a duplicate
or invalid username, an unknown role, a name taken by another account on this
machine, the port in use) is said before anything is created, and exits 2.

This file and the fm_hub_*.py modules it is split into use only Python's
standard library: scripts/hub.sh runs it with the system's Python before
.cache/hub/venv exists. The parts, by job: fm_hub_state (places, the state
folder), fm_hub_passwords, fm_hub_roster, fm_hub_ports, fm_hub_processes,
fm_hub_users (accounts, homes, --teardown), fm_hub_course (dataset cache,
exchange layout, gradebooks), fm_hub_memory (a memory cgroup per user). The
hub's configuration (jupyterhub_config.py) imports what it needs from here.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys

# The hub's configuration (jupyterhub_config.py) imports check_login, end_processes_of, ensure_runtime_dir,
# paths, PROXY and runtime_dir from here.
import fm_hub_memory
from fm_hub_course import (check_sandbox, close_readable_sources, course_id, fill_dataset_cache, prepare_exchange,
                           sync_gradebooks)
from fm_hub_passwords import check_login, hash_password, new_password  # noqa: F401
from fm_hub_ports import check_port, free_port, server_ports
from fm_hub_processes import end_processes_of, ensure_runtime_dir, runtime_dir  # noqa: F401
from fm_hub_roster import ROLES, check_accounts, read_roster
from fm_hub_state import (HERE, PROXY, REPO, VENV, UsageError, paths, plural, prepare_state,  # noqa: F401
                          read_json, running_pid, say, write_private_json)
from fm_hub_users import account_exists, create_user, provision_home, teardown

DEFAULT_PORT = 8000
USAGE = """usage: npm run hub -- --roster FILE [--port P] [--ip ADDR] [--state DIR] [--memory-per-user MB]
                                [--extra-config FILE]
       npm run hub -- --teardown [--state DIR]
       npm run hub -- --roster FILE --reset-password USER [--state DIR]

A JupyterHub for a class on this machine (run as root): every roster line is a
Unix user with a home of its own (mode 700) and a JupyterLab with the TypeScript
kernel, the library, the dataset, the main notebook and nbgrader's Assignments
tab; instructors also get the course (~/course) and the Formgrader.

  --roster FILE     CSV lines username,role,name (role: instructor or student;
                    a header line "username,role,name" is allowed). New accounts
                    get a password, printed once (only its hash is kept).
  --port P          port of the hub's address (default 8000)
  --ip ADDR         address to listen on (default 127.0.0.1: this machine only)
  --state DIR       the hub's database, passwords and nbgrader exchange
                    (default .hub/ in the project); stop and start again with the
                    same DIR to keep accounts, submissions and grades
  --memory-per-user MB   memory each user's server and kernels may use together
                    (a cgroup per user; default 1280, 0 = no limit): a notebook
                    that runs away stops at its own limit, not the machine's
  --teardown        remove the Unix users this hub created and their homes
                    (instructors' courses are copied to DIR/kept/ first), and
                    the hub's private state and exchange
  --extra-config FILE   more JupyterHub configuration, read after the hub's own
                    (e.g. LTI 1.3 login from your LMS: docs/running-a-class.md)
  --reset-password USER   issue USER a new password (printed once); the hub is
                    not started
  --check           check the roster and the port, change nothing, and exit
  -h, --help        this text
"""


def start(args: dict) -> int:
    state, p = args["state"], paths(args["state"])
    if running_pid(state):
        raise UsageError("a hub is already running on %s (process %d)" % (state, running_pid(state)))
    people = read_roster(args["roster"])
    created = read_json(p["users"], {})
    check_accounts(people, created)
    check_port(args["ip"], args["port"])
    if args["check"]:
        say("%s: %s (%s), port %d free" % (args["roster"], plural(len(people), "person", "people"), plural(
            sum(x["role"] == "instructor" for x in people), "instructor"), args["port"]))
        return 0

    node_bin = os.environ.get("FM_HUB_NODE_BIN") or os.path.dirname(shutil.which("node") or "")
    res = subprocess.run(["bash", os.path.join(REPO, "scripts", "setup-hub.sh")])
    if res.returncode != 0:
        raise RuntimeError("the hub's set-up failed (above)")
    data_dir = os.path.abspath(os.environ.get("FMNIST_DATA_DIR") or os.path.join(REPO, "data"))
    fill_dataset_cache(data_dir, node_bin)
    prepare_state(state)
    close_readable_sources()

    for person in people:
        u = person["username"]
        if u not in created or not account_exists(u):  # (an account of ours removed by hand is made again)
            create_user(person)
            created[u] = {"role": person["role"], "created": datetime.datetime.now().isoformat(timespec="seconds")}
            write_private_json(p["users"], created)
        created[u]["role"] = person["role"]
        provision_home(person, data_dir)
    write_private_json(p["users"], created)
    write_private_json(p["roster"], people)
    exchange_group = prepare_exchange(state, people)
    check_sandbox(people, node_bin)
    sync_gradebooks(people)
    # Last before the hub starts, and printed as soon as stored: a password is never kept unseen.
    passwords = read_json(p["passwords"], {})
    issued = []
    for person in people:
        if person["username"] not in passwords:
            password = new_password()
            passwords[person["username"]] = hash_password(password)
            issued.append((person, password))
    write_private_json(p["passwords"], passwords)

    url = "http://%s:%d/" % ("[%s]" % args["ip"] if ":" in args["ip"] else args["ip"], args["port"])
    say("%d accounts (%s)" % (len(people), ", ".join(
        plural(sum(x["role"] == r for x in people), r) for r in ROLES)))
    if issued:
        say("new passwords, shown this once (only their hashes are kept; --reset-password USER issues a new one):")
        width = max(len(x["username"]) for x, _ in issued)
        for person, password in issued:
            print("  %-*s  %-10s  %s  %s" % (width, person["username"], person["role"], password, person["name"]),
                  flush=True)
    known = [x["username"] for x in people if x["username"] not in {y["username"] for y, _ in issued}]
    if known:
        say("passwords issued earlier stay valid: %s" % ", ".join(known))
    gone = sorted(set(created) - {x["username"] for x in people})
    if gone:
        say("not in the roster any more (cannot log in; --teardown removes them): %s" % ", ".join(gone))
    for person in people:
        if person["role"] == "instructor":
            say("%s's Formgrader: %suser/%s/formgrader (where %s lands after logging in; JupyterLab is at "
                "%suser/%s/lab)" % (person["username"], url, person["username"], person["username"], url,
                                    person["username"]))
    memory_mb = args["memory"]
    if memory_mb:
        try:
            fm_hub_memory.base_folder()
            say("each user's server and kernels may use %d MB of memory together (cgroup %s/<user>; "
                "--memory-per-user)" % (memory_mb, fm_hub_memory.BASE))
        except OSError as e:
            say("warning: no memory limit per user on this machine (%s): one notebook that runs away can take "
                "the machine's memory" % e)
            memory_mb = 0
    say("starting JupyterHub at %s (state: %s; Ctrl-C stops it, starting again keeps everything)" % (url, state))

    env = dict(os.environ)
    env.update({
        "FM_HUB_STATE": state,
        "FM_HUB_REPO": REPO,
        "FM_HUB_IP": args["ip"],
        "FM_HUB_PORT": str(args["port"]),
        "FM_HUB_API_PORT": str(free_port()),
        "FM_HUB_PROXY_API_PORT": str(free_port()),
        "FM_HUB_SERVER_PORTS": json.dumps(server_ports([x["username"] for x in people])),
        "FM_HUB_EXCHANGE_PORT": str(free_port()),
        "FM_HUB_EXCHANGE_GROUP": str(exchange_group),
        "FM_HUB_COURSE": course_id(),
        "FM_HUB_NODE_BIN": node_bin,
        "FM_HUB_DATA_DIR": data_dir,
        "FM_HUB_EXTRA_CONFIG": args["extra"],
        "FM_HUB_MEMORY_MB": str(memory_mb),
        "PATH": os.pathsep.join([os.path.join(VENV, "bin"), node_bin, "/usr/local/sbin", "/usr/local/bin",
                                 "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
    })
    os.chdir(p["private"])
    jupyterhub = os.path.join(VENV, "bin", "jupyterhub")
    os.execve(jupyterhub, [jupyterhub, "-f", os.path.join(HERE, "jupyterhub_config.py")], env)
    return 0  # not reached


def reset_password(args: dict) -> int:
    p = paths(args["state"])
    user = args["reset"]
    people = read_roster(args["roster"])
    if user not in {x["username"] for x in people}:
        raise UsageError("--reset-password %s: not in the roster %s" % (user, args["roster"]))
    if user not in read_json(p["users"], {}):
        raise UsageError("--reset-password %s: no account yet (start the hub once to create it)" % user)
    passwords = read_json(p["passwords"], {})
    password = new_password()
    passwords[user] = hash_password(password)
    write_private_json(p["passwords"], passwords)
    say("new password for %s, shown this once: %s" % (user, password))
    return 0


def parse_args(argv: list) -> dict:
    here = os.environ.get("INIT_CWD") or os.getcwd()
    absolute = lambda v: os.path.abspath(os.path.join(here, v))  # noqa: E731
    args = {"roster": None, "port": DEFAULT_PORT, "ip": "127.0.0.1", "state": os.path.join(REPO, ".hub"),
            "teardown": False, "check": False, "reset": None, "extra": "", "memory": fm_hub_memory.DEFAULT_MB}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition("=")
        if name in ("-h", "--help"):
            try:
                sys.stdout.write(USAGE)
                sys.stdout.flush()
            except BrokenPipeError:  # `--help | head`
                pass
            sys.exit(0)
        if name in ("--teardown", "--check"):
            if eq:
                raise UsageError("%s takes no value" % name)
            args[name[2:]] = True
            i += 1
            continue
        if name not in ("--roster", "--port", "--ip", "--state", "--reset-password", "--extra-config",
                        "--memory-per-user"):
            raise UsageError("unknown option %s (see --help)" % a)
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value (see --help)" % name)
            value = argv[i + 1]
            i += 1
        i += 1
        if name == "--port":
            if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
                raise UsageError("--port needs a whole number from 1 to 65535, got %r" % value)
            args["port"] = int(value)
        elif name == "--ip":
            args["ip"] = value
        elif name == "--memory-per-user":
            if not re.fullmatch(r"[0-9]{1,7}", value) or not (int(value) == 0 or 256 <= int(value)):
                raise UsageError("--memory-per-user needs a whole number of MB, 256 or more (0 = no limit), got %r"
                                 % value)
            args["memory"] = int(value)
        elif name == "--roster":
            args["roster"] = absolute(value)
        elif name == "--state":
            args["state"] = absolute(value)
        elif name == "--extra-config":
            args["extra"] = absolute(value)
            if not os.path.isfile(args["extra"]):
                raise UsageError("--extra-config %s: no such file" % value)
        else:
            args["reset"] = value
    if not args["teardown"] and not args["roster"]:
        raise UsageError("--roster FILE is needed (CSV lines username,role,name; see --help)")
    return args


def main(argv: list) -> int:
    try:
        args = parse_args(argv)
        if os.geteuid() != 0 and not args["check"]:
            raise UsageError("run as root: the hub creates a Unix user for everyone in the roster and starts "
                             "their servers as them (sudo npm run hub -- ...)")
        if args["teardown"]:
            return teardown(args["state"])
        if args["reset"]:
            return reset_password(args)
        return start(args)
    except UsageError as e:
        sys.stderr.write("hub: %s\n" % e)
        return 2
    except RuntimeError as e:
        sys.stderr.write("hub: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
