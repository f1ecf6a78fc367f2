#!/usr/bin/env bash
# JupyterLab for the instructor of an nbgrader course: rooted at the course
# (exercises/, or --course DIR), the Formgrader open on it with its assignments
# listed; Validate, Autograde and the Assignment List use the course's
# configuration and the tslab adaptation (jupyter/fm_grading.py, through the
# FM_COURSE_DIR variable). Everything else is scripts/lab.sh: any Jupyter option
# may follow, and a relative DIR is taken from where you typed the command.
#
#   npm run course-lab [-- --course DIR] [-- JUPYTER OPTIONS...]
set -euo pipefail
here=${INIT_CWD:-$PWD}
cd "$(dirname "$0")/.."
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
course=$PWD/exercises
args=() own_root=
root_flag='^--(notebook-dir|root-dir|ServerApp\.root_dir|ServerApp\.notebook_dir)(=|$)'
while [ $# -gt 0 ]; do
  case "$1" in
    --course) [ $# -ge 2 ] || { echo "course-lab: --course needs a folder" >&2; exit 2; }
      course=$(absolute "$2"); shift 2 ;;
    --course=*) course=$(absolute "${1#*=}"); shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) [[ "$1" =~ $root_flag ]] && own_root=1; args+=("$1"); shift ;;
  esac
done
[ -f "$course/nbgrader_config.py" ] ||
  { echo "course-lab: $course is not a course folder (no nbgrader_config.py); pass --course DIR" >&2; exit 2; }
course=$(cd "$course" && pwd -P)
export FM_COURSE_DIR=$course
# /fm/formgrader (jupyter/fm_lab.py) opens Lab with the Formgrader: an address without a query, so the
# one Jupyter prints with its token logs in.
export PYTHONPATH=$PWD/jupyter${PYTHONPATH:+:$PYTHONPATH}
args=("--ServerApp.jpserver_extensions={'fm_lab': True}" "${args[@]}")
# The Formgrader only serves a course inside the Lab's root.
[ -n "$own_root" ] || args=("--ServerApp.root_dir=$course" "--LabApp.default_url=/fm/formgrader" "${args[@]}")
exec bash scripts/lab.sh "${args[@]}"
