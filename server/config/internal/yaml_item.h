// Pieces shared by the config, registry and rules readers (server/*.cc only):
// a mapping entry with its path, the one error-message format, and how a node
// is described in messages. Each reader keeps its own key-walking rules.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

namespace vigil::server::internal {

// One "key: value" of a mapping, with its path ("sensors[3].range").
struct YamlItem {
  std::string path;
  YAML::Mark key_mark;
  YAML::Node value;

  // Where to point at: the value, or the key when the value is empty (yaml-cpp
  // marks an empty value at the next token, often on the following line).
  YAML::Mark mark() const { return value.IsNull() ? key_mark : value.Mark(); }
};

// "<source>:<line>:<col>: <path>: <reason>"; position and path when known.
inline std::string YamlErrorMessage(const std::string& source, const YAML::Mark& mark,
                                    std::string_view path, std::string_view reason) {
  std::string message = source;
  if (!mark.is_null()) {
    message += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  message += ": ";
  if (!path.empty()) {
    message += path;
    message += ": ";
  }
  message += reason;
  return message;
}

// "a mapping", "a list", "nothing" or the quoted scalar.
inline std::string Describe(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "nothing";
  return "'" + node.Scalar() + "'";
}

}  // namespace vigil::server::internal
