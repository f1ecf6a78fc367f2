"""JupyterHub's configuration for a class (started by jupyter/hub/fm_hub.py, `npm run hub`).

fm_hub.py has already checked the roster, created the Unix users and their
homes, issued passwords and picked the ports; it passes them in FM_HUB_*
variables. Here:

- the hub listens on FM_HUB_IP:FM_HUB_PORT (127.0.0.1 by default) through
  configurable-http-proxy (from npm, .cache/hub/proxy), its own API and the
  proxy's API on 127.0.0.1 only;
- logins are checked against the roster's hashed passwords (RosterAuthenticator
  below); instructors are the hub's admins;
- every user's server is JupyterLab from .cache/hub/venv, started as that Unix user
  (LocalProcessSpawner) in their home, with the tslab kernel, Node, the
  library (~/node_modules), the dataset (~/data/fashion-mnist, read-only) and
  nbgrader's exchange (FM_NBGRADER_EXCHANGE, read by jupyter/fm_grading.py).
  Instructors' servers grade their ~/course (FM_COURSE_DIR) and open on the
  Formgrader; students' servers have no Formgrader, course list or
  create-assignment tools (jupyter/hub/student-config);
- the hub's database, cookie secret and proxy pid live in the state folder's
  private/ (mode 700), so a restart keeps accounts and servers' records;
- submissions go through the `fm-exchange` service (fm_exchange_service.py), run
  by the hub: filed under the name the hub authenticated, at its clock's time;
- a user's kernels talk over Unix sockets in a runtime folder only they can open
  (/run/fm-hub/<uid>, fm_hub_server.private_kernels);
- each user's server and kernels share a memory limit (a cgroup per user,
  fm_hub_memory, --memory-per-user), so a notebook that runs away stops at its
  own limit, with the library's message, not at the machine's;
- when a user's server stops (logout, "Stop My Server", the admin page, the hub
  stopping), every process of that Unix user ends with it; logging out stops
  the server and makes every login cookie of that user worthless.
"""

import json
import os
import pwd
import sys

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import LocalProcessSpawner

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fm_hub  # noqa: E402
import fm_hub_memory  # noqa: E402
import fm_logout  # noqa: E402

STATE = os.environ["FM_HUB_STATE"]
PATHS = fm_hub.paths(STATE)
REPO = os.environ["FM_HUB_REPO"]
VENV_BIN = os.path.join(REPO, ".cache", "hub", "venv", "bin")
NODE_BIN = os.environ["FM_HUB_NODE_BIN"]
with open(PATHS["roster"]) as f:
    ROSTER = {p["username"]: p for p in json.load(f)}

c = get_config()  # noqa: F821


class RosterAuthenticator(Authenticator):
    """Username and the password fm_hub.py issued (only its scrypt hash is stored, in a file root alone reads)."""

    async def authenticate(self, handler, data):
        username = self.normalize_username((data or {}).get("username") or "")
        password = (data or {}).get("password") or ""
        if username in ROSTER and fm_hub.check_login(STATE, username, password):
            return username
        self.log.warning("failed login for %r", username)
        return None


c.JupyterHub.authenticator_class = RosterAuthenticator
c.Authenticator.allowed_users = set(ROSTER)
c.Authenticator.allow_existing_users = False  # the roster decides: someone taken off it cannot log in
c.Authenticator.admin_users = {u for u, p in ROSTER.items() if p["role"] == "instructor"}

# Addresses: the public one from the command line; the hub's API and the proxy's API on loopback.
ip, port = os.environ["FM_HUB_IP"], int(os.environ["FM_HUB_PORT"])
c.JupyterHub.bind_url = "http://%s:%d/" % ("[%s]" % ip if ":" in ip else ip, port)
c.JupyterHub.hub_bind_url = "http://127.0.0.1:%s" % os.environ["FM_HUB_API_PORT"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%s" % os.environ["FM_HUB_PROXY_API_PORT"]
c.ConfigurableHTTPProxy.command = [fm_hub.PROXY]
c.ConfigurableHTTPProxy.pid_file = os.path.join(PATHS["private"], "jupyterhub-proxy.pid")

# State kept across restarts (private/: root only).
c.JupyterHub.db_url = "sqlite:///" + PATHS["db"]
c.JupyterHub.cookie_secret_file = PATHS["cookie"]
c.JupyterHub.pid_file = PATHS["pid"]
c.JupyterHub.cleanup_servers = True  # stopping the hub stops everyone's server (their files stay)
fm_logout.install(c)  # logging out ends the user's server and voids every cookie of theirs

# The submission desk (fm_exchange_service.py), run by the hub as root: students never write in the exchange.
EXCHANGE_URL = "http://127.0.0.1:%s/" % os.environ["FM_HUB_EXCHANGE_PORT"]
c.JupyterHub.services = [{
    "name": "fm-exchange",
    "url": EXCHANGE_URL.rstrip("/"),
    "command": [sys.executable, os.path.join(HERE, "fm_exchange_service.py")],
    "environment": {
        "FM_EXCHANGE_ROOT": PATHS["exchange"],
        "FM_EXCHANGE_GROUP": os.environ["FM_HUB_EXCHANGE_GROUP"],
        "FM_EXCHANGE_PORT": os.environ["FM_HUB_EXCHANGE_PORT"],
        **{k: v for k, v in os.environ.items() if k.startswith("FM_EXCHANGE_MAX_")},
    },
}]

# Each user's JupyterLab, as their own Unix user, in their home.
MEMORY_MB = int(os.environ.get("FM_HUB_MEMORY_MB") or 0)


class ClassSpawner(LocalProcessSpawner):
    """LocalProcessSpawner, with the new server moved into its user's memory cgroup (fm_hub_memory)
    before it starts any kernel."""

    async def start(self):
        started = await super().start()
        if MEMORY_MB:
            try:
                where = fm_hub_memory.place(self.user.name, self.pid, MEMORY_MB)
                self.log.info("%s's server and kernels: at most %d MB (%s)", self.user.name, MEMORY_MB, where)
            except OSError as e:
                self.log.warning("%s's server runs without a memory limit: %s", self.user.name, e)
        return started


c.JupyterHub.spawner_class = ClassSpawner
c.Spawner.cmd = [os.path.join(VENV_BIN, "jupyterhub-singleuser")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.env_keep = ["LANG", "LC_ALL", "TZ", "FASHION_MNIST_MIRROR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90


def user_environment(spawner) -> dict:
    name = spawner.user.name
    home = pwd.getpwnam(name).pw_dir
    env = {
        "PATH": os.pathsep.join([VENV_BIN, NODE_BIN, "/usr/local/bin", "/usr/bin", "/bin"]),
        "FM_NBGRADER_EXCHANGE": PATHS["exchange"],
        "FM_EXCHANGE_URL": EXCHANGE_URL,
        "JUPYTER_RUNTIME_DIR": fm_hub.runtime_dir(pwd.getpwnam(name).pw_uid),
        "FMNIST_DATA_DIR": os.path.join(home, "data"),
        "SHELL": "/bin/bash",
    }
    if ROSTER.get(name, {}).get("role") == "instructor":
        env["FM_COURSE_DIR"] = os.path.join(home, "course")
    else:
        # nbgrader's instructor tools are switched off for students (server and Lab extensions).
        env["JUPYTER_CONFIG_PATH"] = os.path.join(HERE, "student-config")
    return env


# Each user's server on its own port, picked by fm_hub.py (server_ports: why not random).
SERVER_PORTS = json.loads(os.environ.get("FM_HUB_SERVER_PORTS") or "{}")


def pre_spawn_hook(spawner) -> None:
    fm_hub.ensure_runtime_dir(spawner.user.name)
    spawner.environment = user_environment(spawner)
    spawner.port = SERVER_PORTS.get(spawner.user.name, 0)
    if ROSTER.get(spawner.user.name, {}).get("role") == "instructor":
        spawner.default_url = "/formgrader"


c.Spawner.pre_spawn_hook = pre_spawn_hook


def post_stop_hook(spawner) -> None:
    """Nothing of a user outlives their server: `setsid`, `nohup` or double-forked processes included."""
    uid = pwd.getpwnam(spawner.user.name).pw_uid
    left = fm_hub.end_processes_of(uid)
    fm_hub_memory.release(spawner.user.name)
    spawner.log.info("Ended the processes of %s after their server stopped%s", spawner.user.name,
                     " (%d still there)" % left if left else "")


c.Spawner.post_stop_hook = post_stop_hook

# More configuration of the instructor's own (`npm run hub -- --extra-config FILE`), e.g. LTI 1.3 login.
if os.environ.get("FM_HUB_EXTRA_CONFIG"):
    load_subconfig(os.environ["FM_HUB_EXTRA_CONFIG"])  # noqa: F821
