#include "train/train_state.h"

#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"

namespace r1 {

void save_train_state(const std::string& path, const Model& model, AdamW& opt, const TrainState& st) {
  std::vector<TensorToWrite> t;
  for (const ParamSpec& s : model.param_specs()) {
    t.push_back({s.name, s.shape, DType::F32, model.params() + s.offset});
    t.push_back({"optim.m/" + s.name, s.shape, DType::F32, opt.m().data() + s.offset});
    t.push_back({"optim.v/" + s.name, s.shape, DType::F32, opt.v().data() + s.offset});
  }
  std::map<std::string, std::string> meta = {
      {"format", "r1.train_state.v1"},
      {"step", std::to_string(st.step)},
      {"optim_steps", std::to_string(opt.steps_taken())},
      {"data_epoch", std::to_string(st.data.epoch)},
      {"data_index", std::to_string(st.data.index)},
      {"seed", std::to_string(st.seed)},
      {"config", model.config().to_hf_json().dump()},
  };
  save_safetensors(path, t, meta);
}

TrainState load_train_state(const std::string& path, Model& model, AdamW& opt) {
  SafetensorsFile f(path);
  const auto& meta = f.metadata();
  auto get = [&](const char* key) -> int64_t {
    auto it = meta.find(key);
    if (it == meta.end()) fail("{}: not a training-state checkpoint (metadata '{}' missing)", path, key);
    try {
      size_t used = 0;
      int64_t v = std::stoll(it->second, &used);
      if (used != it->second.size()) throw std::invalid_argument("trailing characters");
      return v;
    } catch (const std::exception&) {
      fail("{}: metadata '{}' is not an integer: '{}'", path, key, it->second);
    }
  };
  if (auto it = meta.find("format"); it == meta.end() || it->second != "r1.train_state.v1")
    fail("{}: not an r1 training-state checkpoint", path);
  if (auto it = meta.find("config"); it == meta.end() || it->second != model.config().to_hf_json().dump())
    fail("{}: the checkpoint's model configuration differs from the recipe's", path);
  auto load = [&](const std::string& name, const ParamSpec& s, float* dst) {
    const TensorInfo* t = f.find(name);
    if (!t) fail("{}: missing tensor '{}'", path, name);
    if (t->dtype != DType::F32 || t->shape != s.shape)
      fail("{}: tensor '{}' has the wrong dtype or shape", path, name);
    std::memcpy(dst, t->data, s.numel * sizeof(float));
  };
  for (const ParamSpec& s : model.param_specs()) {
    load(s.name, s, model.params() + s.offset);
    load("optim.m/" + s.name, s, opt.m().data() + s.offset);
    load("optim.v/" + s.name, s, opt.v().data() + s.offset);
  }
  TrainState st;
  st.step = get("step");
  st.data.epoch = get("data_epoch");
  st.data.index = get("data_index");
  st.seed = static_cast<uint64_t>(get("seed"));
  opt.set_steps_taken(get("optim_steps"));
  return st;
}

}  // namespace r1
