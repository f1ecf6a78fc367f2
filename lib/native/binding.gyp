# The graph-step spike's addon, linked like tfjs-node's own (binding.gyp there):
# against the wheel's libtensorflow in tfjs-node's deps/, passed in as
# tf_deps, with that folder as rpath so no LD_LIBRARY_PATH is needed.
{
  'targets': [{
    'target_name': 'graph_step',
    'sources': ['graph_step.cc'],
    'include_dirs': ['<(tf_deps)/include'],
    'cflags_cc': ['-std=c++17', '-O2'],
    'libraries': [
      '-Wl,-rpath,<(tf_deps)/lib',
      '-L<(tf_deps)/lib',
      '-ltensorflow',
      '-ltensorflow_framework',
    ],
    'defines': ['NAPI_VERSION=8'],
  }]
}
