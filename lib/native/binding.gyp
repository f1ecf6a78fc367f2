# The graph-step addon (graph_step.cc), linked like tfjs-node's own: against
# the wheel's libtensorflow in tfjs-node's deps/ (passed in as tf_deps, for the
# link only). It is installed into tfjs-node's lib/fm-graph-step/, two levels
# below deps/ like tfjs_binding.node, so the same relative rpath finds the one
# libtensorflow_cc.so.2 tfjs-node loads, wherever node_modules is moved.
{
  'targets': [{
    'target_name': 'graph_step',
    'sources': ['graph_step.cc'],
    'include_dirs': ['<(tf_deps)/include'],
    'cflags_cc': ['-std=c++17', '-O2'],
    'libraries': [
      '-Wl,-rpath,\$$ORIGIN/../../deps/lib',
      '-L<(tf_deps)/lib',
      '-ltensorflow',
      '-ltensorflow_framework',
    ],
    'defines': ['NAPI_VERSION=8'],
  }]
}
