"""nbgrader inside JupyterLab: the course's grading configuration for the Jupyter server too.

The command line (`npm run course -- ...`) runs nbgrader in the course folder,
so nbgrader reads the course's own nbgrader_config.py, which loads the tslab
adaptation (exercises/tslab_grading.py). nbgrader's JupyterLab extensions run
inside the Jupyter server and read their configuration elsewhere:

- the Validate button (``/assignments/validate``): ``nbgrader_config.py`` on the
  Jupyter config path (``.venv/etc/jupyter``, ``~/.jupyter``, ...) and in the
  server's working folder, never the course's. Without the adaptation a tslab
  notebook with a failing cell ends in ``KeyError: 'ename'`` (jupyter/nbgrader#1806);
- the Formgrader: the same files, then ``<CourseDirectory.root>/nbgrader_config.py``;
  the root defaults to the server's working folder (the project's root for
  ``npm run lab``), where there is no course, and must lie inside the Lab's root;
  its Autograde button runs nbgrader in the server process;
- the Assignment List (``/courses``, ``/assignments``): the exchange,
  by default ``/usr/local/share/nbgrader/exchange``, which must already exist
  ("Error fetching courses!" otherwise).

``configure(c, repo)`` is called by ``.venv/etc/jupyter/nbgrader_config.py``
(written by scripts/setup-lab-grading.sh), so every nbgrader run in this
environment, in the server or not:

- loads the course's ``nbgrader_config.py`` (the tslab adaptation, cell
  timeouts, stubs, feedback without hidden tests) and sets
  ``CourseDirectory.root`` to the course: ``$FM_COURSE_DIR`` (set by
  scripts/course-lab.sh ``--course DIR``) or ``exercises/``. Skipped when the
  working folder holds an ``nbgrader_config.py`` of its own: nbgrader reads that
  one itself, and the course you are in wins (the command line runs there);
- uses a project-local exchange, ``.venv/share/nbgrader/exchange`` (created
  here and by setup), or ``$FM_NBGRADER_EXCHANGE`` (a shared folder, mode
  1777, for a class on one machine; on the class hub, laid out by
  jupyter/hub/fm_hub.py so that students submit through its service).
"""

import os
import sys

from traitlets.config.loader import PyFileConfigLoader

COURSE_ENV = "FM_COURSE_DIR"
EXCHANGE_ENV = "FM_NBGRADER_EXCHANGE"
CONFIG_NAME = "nbgrader_config.py"


def course_dir(repo: str) -> str:
    """The course the Jupyter server grades: $FM_COURSE_DIR or <repo>/exercises."""
    return os.path.abspath(os.environ.get(COURSE_ENV) or os.path.join(repo, "exercises"))


def default_exchange(repo: str) -> str:
    return os.path.join(repo, ".venv", "share", "nbgrader", "exchange")


def exchange_dir(repo: str) -> str:
    return os.path.abspath(os.environ.get(EXCHANGE_ENV) or default_exchange(repo))


def ensure_exchange(repo: str) -> str:
    """Creates the project-local exchange if missing (a shared one must exist already)."""
    root = exchange_dir(repo)
    if not os.environ.get(EXCHANGE_ENV):
        os.makedirs(root, exist_ok=True)
    return root


def configure(c, repo: str) -> None:
    """Makes the course's grading configuration part of ``c`` (see the module's docstring)."""
    c.Exchange.root = ensure_exchange(repo)
    if os.path.isfile(os.path.join(os.getcwd(), CONFIG_NAME)):
        return  # a course folder: nbgrader loads its config itself
    course = course_dir(repo)
    if not os.path.isfile(os.path.join(course, CONFIG_NAME)):
        # Said, not raised: an error would drop this whole file (the feedback template too).
        sys.stderr.write("[fm_grading] %s has no %s: nbgrader in JupyterLab has no course and no tslab "
                         "adaptation; set %s to a course folder\n" % (course, CONFIG_NAME, COURSE_ENV))
        return
    c.merge(PyFileConfigLoader(CONFIG_NAME, path=course).load_config())
    c.CourseDirectory.root = course
