// A minimal TensorFlow graph API for Node (N-API, C API of the tensorflow-cpu
// wheel's libtensorflow_cc.so.2): build a TF_Graph op by op from JavaScript,
// open a TF_Session on it, and run a prepared feed/fetch/target set as one
// TF_SessionRun. The point is one crossing between JavaScript and TensorFlow
// per training step instead of one per op.
//
// Handles given to JavaScript: operations by index in the graph's op list,
// outputs as op * 8 + output index (no op used here has more than 8 outputs).
// dispose(graph) closes the session and frees the graph at once (the trainer
// calls it; the garbage collector's finalizer is only the backstop).
#include <node_api.h>
#include <tensorflow/c/c_api.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kOutputsPerOp = 8;

struct Runner {
  std::vector<TF_Output> feeds;
  std::vector<TF_Output> fetches;
  std::vector<TF_Operation*> targets;
};

struct Graph {
  TF_Graph* graph = TF_NewGraph();
  TF_Session* session = nullptr;
  TF_Status* status = TF_NewStatus();
  std::vector<TF_Operation*> ops;
  std::vector<Runner> runners;
  void Release() {
    if (session) {
      TF_CloseSession(session, status);
      TF_DeleteSession(session, status);
      session = nullptr;
    }
    if (graph) TF_DeleteGraph(graph);
    if (status) TF_DeleteStatus(status);
    graph = nullptr;
    status = nullptr;
    ops.clear();
    runners.clear();
  }
  ~Graph() { Release(); }
};

#define NAPI_OK(call)                          \
  do {                                         \
    if ((call) != napi_ok) {                   \
      ThrowPending(env, #call);                \
      return nullptr;                          \
    }                                          \
  } while (0)

void ThrowPending(napi_env env, const char* what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, nullptr, what);
}

napi_value Throw(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

bool TfFailed(napi_env env, TF_Status* status, const char* where) {
  if (TF_GetCode(status) == TF_OK) return false;
  Throw(env, std::string(where) + ": " + TF_Message(status));
  return true;
}

bool GetArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, nullptr, "too few arguments");
    return false;
  }
  return true;
}

Graph* GetGraph(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, nullptr, "not a graph");
    return nullptr;
  }
  Graph* g = static_cast<Graph*>(p);
  if (!g->graph) {
    napi_throw_error(env, nullptr, "the graph was disposed");
    return nullptr;
  }
  return g;
}

bool GetString(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len);
  return napi_get_value_string_utf8(env, v, out->data(), len + 1, &len) == napi_ok;
}

bool GetInt64s(napi_env env, napi_value arr, std::vector<int64_t>* out) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return false;
  out->resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok || napi_get_value_int64(env, e, &(*out)[i]) != napi_ok)
      return false;
  }
  return true;
}

bool ToOutput(Graph* g, int64_t id, TF_Output* out) {
  int64_t op = id / kOutputsPerOp;
  if (id < 0 || op >= static_cast<int64_t>(g->ops.size())) return false;
  *out = TF_Output{g->ops[op], static_cast<int>(id % kOutputsPerOp)};
  return true;
}

bool GetOutputs(napi_env env, Graph* g, napi_value arr, std::vector<TF_Output>* out) {
  std::vector<int64_t> ids;
  if (!GetInt64s(env, arr, &ids)) return false;
  out->resize(ids.size());
  for (size_t i = 0; i < ids.size(); i++)
    if (!ToOutput(g, ids[i], &(*out)[i])) return false;
  return true;
}

napi_value MakeInt(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

// Attributes use tfjs-node's encoding ({name, type: TF_AttrType, value}), so
// the native path's op builders can describe graph ops unchanged.
bool SetAttr(napi_env env, TF_OperationDescription* desc, napi_value attr) {
  napi_value nv, tv, vv;
  std::string name;
  int32_t type = 0;
  if (napi_get_named_property(env, attr, "name", &nv) != napi_ok || !GetString(env, nv, &name) ||
      napi_get_named_property(env, attr, "type", &tv) != napi_ok || napi_get_value_int32(env, tv, &type) != napi_ok ||
      napi_get_named_property(env, attr, "value", &vv) != napi_ok)
    return false;
  bool isArray = false;
  napi_is_array(env, vv, &isArray);
  switch (type) {
    case TF_ATTR_STRING: {
      std::string s;
      if (!GetString(env, vv, &s)) return false;
      TF_SetAttrString(desc, name.c_str(), s.data(), s.size());
      return true;
    }
    case TF_ATTR_INT: {
      if (isArray) {
        std::vector<int64_t> v;
        if (!GetInt64s(env, vv, &v)) return false;
        TF_SetAttrIntList(desc, name.c_str(), v.data(), static_cast<int>(v.size()));
      } else {
        int64_t v = 0;
        if (napi_get_value_int64(env, vv, &v) != napi_ok) return false;
        TF_SetAttrInt(desc, name.c_str(), v);
      }
      return true;
    }
    case TF_ATTR_FLOAT: {
      double v = 0;
      if (napi_get_value_double(env, vv, &v) != napi_ok) return false;
      TF_SetAttrFloat(desc, name.c_str(), static_cast<float>(v));
      return true;
    }
    case TF_ATTR_BOOL: {
      bool v = false;
      if (napi_get_value_bool(env, vv, &v) != napi_ok) return false;
      TF_SetAttrBool(desc, name.c_str(), v ? 1 : 0);
      return true;
    }
    case TF_ATTR_TYPE: {
      int32_t v = 0;
      if (napi_get_value_int32(env, vv, &v) != napi_ok) return false;
      TF_SetAttrType(desc, name.c_str(), static_cast<TF_DataType>(v));
      return true;
    }
    case TF_ATTR_SHAPE: {
      std::vector<int64_t> dims;
      if (!GetInt64s(env, vv, &dims)) return false;
      TF_SetAttrShape(desc, name.c_str(), dims.data(), static_cast<int>(dims.size()));
      return true;
    }
    default:
      return false;
  }
}

napi_value FinishOp(napi_env env, Graph* g, TF_OperationDescription* desc) {
  TF_Operation* op = TF_FinishOperation(desc, g->status);
  if (TfFailed(env, g->status, "TF_FinishOperation")) return nullptr;
  g->ops.push_back(op);
  napi_value r;
  NAPI_OK(napi_create_array_with_length(env, 2, &r));
  NAPI_OK(napi_set_element(env, r, 0, MakeInt(env, static_cast<int64_t>(g->ops.size()) - 1)));
  NAPI_OK(napi_set_element(env, r, 1, MakeInt(env, TF_OperationNumOutputs(op))));
  return r;
}

napi_value NewGraph(napi_env env, napi_callback_info) {
  Graph* g = new Graph();
  napi_value r;
  NAPI_OK(napi_create_external(
      env, g, [](napi_env, void* p, void*) { delete static_cast<Graph*>(p); }, nullptr, &r));
  return r;
}

// addOp(graph, type, inputs: outputIds[], attrs, controlInputs: opIndices[]) -> [op, numOutputs]
napi_value AddOp(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!GetArgs(env, info, 5, argv)) return nullptr;
  Graph* g = GetGraph(env, argv[0]);
  if (!g) return nullptr;
  std::string type;
  if (!GetString(env, argv[1], &type)) return Throw(env, "op type must be a string");
  std::vector<TF_Output> inputs;
  if (!GetOutputs(env, g, argv[2], &inputs)) return Throw(env, type + ": bad input ids");
  std::vector<int64_t> control;
  if (!GetInt64s(env, argv[4], &control)) return Throw(env, type + ": bad control inputs");
  std::string name = "n" + std::to_string(g->ops.size());
  TF_OperationDescription* desc = TF_NewOperation(g->graph, type.c_str(), name.c_str());
  for (const TF_Output& in : inputs) TF_AddInput(desc, in);
  for (int64_t c : control) {
    if (c < 0 || c >= static_cast<int64_t>(g->ops.size())) return Throw(env, type + ": bad control input");
    TF_AddControlInput(desc, g->ops[c]);
  }
  uint32_t nattrs = 0;
  NAPI_OK(napi_get_array_length(env, argv[3], &nattrs));
  for (uint32_t i = 0; i < nattrs; i++) {
    napi_value a;
    NAPI_OK(napi_get_element(env, argv[3], i, &a));
    // The C API cannot drop an unfinished description: it leaks (a bad attribute is a caller's bug).
    if (!SetAttr(env, desc, a)) return Throw(env, type + ": bad attribute " + std::to_string(i));
  }
  return FinishOp(env, g, desc);
}

TF_DataType ArrayDtype(napi_typedarray_type t, size_t* width) {
  *width = 4;
  switch (t) {
    case napi_float32_array:
      return TF_FLOAT;
    case napi_int32_array:
      return TF_INT32;
    default:
      *width = 0;
      return TF_FLOAT;
  }
}

// Copies a Float32Array or Int32Array into a new tensor of the given shape.
TF_Tensor* TensorFrom(napi_env env, napi_value array, napi_value shapeArr) {
  napi_typedarray_type t;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, array, &t, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
  size_t width = 0;
  TF_DataType dtype = ArrayDtype(t, &width);
  std::vector<int64_t> dims;
  if (!width || !GetInt64s(env, shapeArr, &dims)) return nullptr;
  size_t count = 1;
  for (int64_t d : dims) count *= static_cast<size_t>(d);
  if (count != length) return nullptr;
  TF_Tensor* tensor = TF_AllocateTensor(dtype, dims.data(), static_cast<int>(dims.size()), length * width);
  std::memcpy(TF_TensorData(tensor), data, length * width);
  return tensor;
}

// addConst(graph, values: Float32Array | Int32Array, shape) -> [op, 1]
napi_value AddConst(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  Graph* g = GetGraph(env, argv[0]);
  if (!g) return nullptr;
  TF_Tensor* t = TensorFrom(env, argv[1], argv[2]);
  if (!t) return Throw(env, "addConst: values must be a Float32Array or Int32Array matching the shape");
  std::string name = "n" + std::to_string(g->ops.size());
  TF_OperationDescription* desc = TF_NewOperation(g->graph, "Const", name.c_str());
  TF_SetAttrTensor(desc, "value", t, g->status);
  TF_SetAttrType(desc, "dtype", TF_TensorType(t));
  TF_DeleteTensor(t);
  if (TfFailed(env, g->status, "TF_SetAttrTensor")) return nullptr;
  return FinishOp(env, g, desc);
}

// newSession(graph, config: Uint8Array (a serialized ConfigProto) | null)
napi_value NewSession(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  Graph* g = GetGraph(env, argv[0]);
  if (!g) return nullptr;
  if (g->session) return Throw(env, "newSession: the graph has a session already");
  TF_SessionOptions* opts = TF_NewSessionOptions();
  napi_valuetype vt;
  NAPI_OK(napi_typeof(env, argv[1], &vt));
  if (vt == napi_object) {
    napi_typedarray_type t;
    size_t len = 0;
    void* data = nullptr;
    NAPI_OK(napi_get_typedarray_info(env, argv[1], &t, &len, &data, nullptr, nullptr));
    TF_SetConfig(opts, data, len, g->status);
    if (TfFailed(env, g->status, "TF_SetConfig")) {
      TF_DeleteSessionOptions(opts);
      return nullptr;
    }
  }
  g->session = TF_NewSession(g->graph, opts, g->status);
  TF_DeleteSessionOptions(opts);
  if (TfFailed(env, g->status, "TF_NewSession")) return nullptr;
  return nullptr;
}

// prepare(graph, feeds: outputIds[], fetches: outputIds[], targets: opIndices[]) -> runner index
napi_value Prepare(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return nullptr;
  Graph* g = GetGraph(env, argv[0]);
  if (!g) return nullptr;
  Runner r;
  std::vector<int64_t> targets;
  if (!GetOutputs(env, g, argv[1], &r.feeds) || !GetOutputs(env, g, argv[2], &r.fetches) ||
      !GetInt64s(env, argv[3], &targets))
    return Throw(env, "prepare: bad ids");
  for (int64_t t : targets) {
    if (t < 0 || t >= static_cast<int64_t>(g->ops.size())) return Throw(env, "prepare: bad target");
    r.targets.push_back(g->ops[t]);
  }
  g->runners.push_back(std::move(r));
  return MakeInt(env, static_cast<int64_t>(g->runners.size()) - 1);
}

// run(graph, runner, values: (Float32Array | Int32Array)[], shapes: number[][]) -> fetched arrays
napi_value Run(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return nullptr;
  Graph* g = GetGraph(env, argv[0]);
  if (!g) return nullptr;
  if (!g->session) return Throw(env, "run: no session");
  int32_t ri = -1;
  NAPI_OK(napi_get_value_int32(env, argv[1], &ri));
  if (ri < 0 || ri >= static_cast<int32_t>(g->runners.size())) return Throw(env, "run: bad runner");
  const Runner& r = g->runners[ri];
  std::vector<TF_Tensor*> inputs(r.feeds.size(), nullptr);
  auto freeInputs = [&]() {
    for (TF_Tensor* t : inputs)
      if (t) TF_DeleteTensor(t);
  };
  for (uint32_t i = 0; i < r.feeds.size(); i++) {
    napi_value v, s;
    NAPI_OK(napi_get_element(env, argv[2], i, &v));
    NAPI_OK(napi_get_element(env, argv[3], i, &s));
    inputs[i] = TensorFrom(env, v, s);
    if (!inputs[i]) {
      freeInputs();
      return Throw(env, "run: feed " + std::to_string(i) + " is not a Float32Array/Int32Array of its shape");
    }
  }
  std::vector<TF_Tensor*> outputs(r.fetches.size(), nullptr);
  TF_SessionRun(g->session, nullptr, r.feeds.data(), inputs.data(), static_cast<int>(inputs.size()),
                r.fetches.data(), outputs.data(), static_cast<int>(outputs.size()), r.targets.data(),
                static_cast<int>(r.targets.size()), nullptr, g->status);
  freeInputs();
  if (TfFailed(env, g->status, "TF_SessionRun")) return nullptr;
  napi_value result;
  NAPI_OK(napi_create_array_with_length(env, outputs.size(), &result));
  for (size_t i = 0; i < outputs.size(); i++) {
    TF_Tensor* t = outputs[i];
    size_t bytes = TF_TensorByteSize(t);
    bool isInt = TF_TensorType(t) == TF_INT32;
    void* data = nullptr;
    napi_value buffer, array;
    NAPI_OK(napi_create_arraybuffer(env, bytes, &data, &buffer));
    std::memcpy(data, TF_TensorData(t), bytes);
    NAPI_OK(napi_create_typedarray(env, isInt ? napi_int32_array : napi_float32_array, bytes / 4, buffer, 0, &array));
    NAPI_OK(napi_set_element(env, result, static_cast<uint32_t>(i), array));
    TF_DeleteTensor(t);
  }
  return result;
}

// dispose(graph): closes the session and frees the graph now; later calls with it throw.
napi_value Dispose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) return Throw(env, "dispose: not a graph");
  static_cast<Graph*>(p)->Release();
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"newGraph", nullptr, NewGraph, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addOp", nullptr, AddOp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addConst", nullptr, AddConst, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"newSession", nullptr, NewSession, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"prepare", nullptr, Prepare, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dispose", nullptr, Dispose, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
