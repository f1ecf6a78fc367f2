# nbgrader configuration for the TypeScript (tslab) exercises of this course.
# Run nbgrader from this folder (npm run course -- ... does that).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tslab_grading  # noqa: E402

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

# Resident memory (MB) each notebook's kernel may use, with any processes it
# starts; over it the kernel is stopped and the running cell and all later ones
# score 0. 0 = no limit (the peak is still logged per notebook).
_memory = os.environ.get("COURSE_MEMORY_LIMIT_MB", "2048")
if not _memory.strip().isdigit():
    raise ValueError("COURSE_MEMORY_LIMIT_MB must be a whole number of MB (0 = no limit), got %r" % _memory)
# Output (stream and display) each cell keeps while graded, and the whole
# notebook (KB; 0 = no limit): the rest is dropped as it arrives and one line
# says how much, so a notebook printing without end cannot fill the grader's
# memory, the graded notebook or the Formgrader.
_output = {}
for _name, _default in (("COURSE_CELL_OUTPUT_LIMIT_KB", 1024), ("COURSE_NOTEBOOK_OUTPUT_LIMIT_KB", 10240)):
    _value = os.environ.get(_name, str(_default))
    if not _value.strip().isdigit():
        raise ValueError("%s must be a whole number of KB (0 = no limit), got %r" % (_name, _value))
    _output[_name] = int(_value)
# Small runs while nbgrader executes a notebook (an explicit value in the
# environment wins); kernels started outside grading keep the full sizes.
tslab_grading.install(
    memory_limit_mb=int(_memory),
    cell_output_limit_kb=_output["COURSE_CELL_OUTPUT_LIMIT_KB"],
    notebook_output_limit_kb=_output["COURSE_NOTEBOOK_OUTPUT_LIMIT_KB"],
    kernel_env={
        "FMNIST_TRAIN_LIMIT": "2000",
        "FMNIST_TEST_LIMIT": "1000",
        "FMNIST_EPOCHS": "2",
        "FMNIST_SEED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # One write's cap in the sandboxed kernel (jupyter/tslab-ipc-kernel.js).
        "FMNIST_GRADING_MAX_WRITE_KB": str(_output["COURSE_CELL_OUTPUT_LIMIT_KB"]),
    },
)

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "fashion-mnist-ts"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# Student stubs for TypeScript: a clear error instead of nbgrader's ValueError
# ("language 'typescript' has not been specified in ClearSolutions.code_stub").
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
    "typescript": '// YOUR CODE HERE\nthrow new Error("not implemented: replace this line with your solution");',
}
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Every cell gets this long (seconds) when validating and autograding. Training
# cells run on small subsets while grading (see below), well inside it.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "120"))
c.Execute.kernel_name = "tslab"
c.Execute.startup_timeout = 120
# A cell whose reply came but whose last output did not within iopub_timeout
# (4 s; messages a flood of output lost) is finished, not timed out: it is
# graded as it ran instead of stopping the notebook with "timed out after 4 s".
c.Execute.raise_on_iopub_timeout = False

# The submission's kernelspec is replaced by the source's (students cannot pick
# another kernel); every submission starts on a clean kernel.
c.Autograde.create_student = True

# Feedback: the hidden tests are removed from what students get back. StripHiddenTests
# must see the outputs as they were graded: where the project's chart exporter is
# set up (fm_export.PlotlyCharts, the HTML exporter's own preprocessor, which runs
# before GenerateFeedback's and replaces chart outputs), it runs just before it.
try:
    import fm_export  # on sys.path once the environment's nbgrader_config.py has run
except ImportError:
    fm_export = None
if fm_export is not None:
    c.HTMLExporter.preprocessors = [tslab_grading.StripHiddenTests, fm_export.PlotlyCharts]
    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]
else:
    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, tslab_grading.StripHiddenTests]
