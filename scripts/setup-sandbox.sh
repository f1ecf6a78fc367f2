#!/usr/bin/env bash
# bubblewrap, the sandbox every grading kernel runs in (exercises/kernel_sandbox.py),
# for `npm run course`, `course-lab`, `lab` and `npm test`. Without it the
# commands that grade say what is missing (and name --no-sandbox).
exec bash "$(dirname "$0")/debian-package.sh" bwrap bubblewrap "the grading sandbox"
