// The command line of a bench executable (vigil-load, vigil-alarm-load,
// vigil-sim, history_bench), parsed by CLI11: "--flag VALUE" or
// "--flag=VALUE", the last of a repeated flag wins, --help prints the tool's
// usage text and exits 0, a bad flag or value is named on stderr with exit 2.
// Durations are read by alarm/time_text.h, as in vigild's config. One CommandLine
// per process, on main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <utility>

#include "alarm/time_text.h"

namespace vigil::bench {

class CommandLine {
 public:
  // `usage` is what --help prints.
  CommandLine(std::string program, std::string usage)
      : program_(std::move(program)), usage_(std::move(usage)), app_("", program_) {
    app_.set_help_flag("-h,--help", "print the usage and exit");
    app_.option_defaults()->disable_flag_override()->multi_option_policy(
        CLI::MultiOptionPolicy::TakeLast);
    app_.formatter_fn(
        [this](const CLI::App*, const std::string&, CLI::AppFormatMode) { return usage_; });
  }

  // A switch: present or not.
  void Switch(const std::string& flag, bool* out) { app_.add_flag(flag, *out); }

  // A non-empty string.
  void Text(const std::string& flag, std::string* out) {
    app_.add_option(flag, *out)->type_name("TEXT")->check([](const std::string& value) {
      return value.empty() ? std::string("must not be empty") : std::string();
    });
  }

  // A number min..max (CLI11 names a value that is not a number of type T).
  template <class T>
  void Number(const std::string& flag, T* out, T min = std::numeric_limits<T>::lowest(),
              T max = std::numeric_limits<T>::max()) {
    app_.add_option(flag, *out)->type_name("N")->check(CLI::Range(min, max));
  }

  // A duration as alarm::ParseDuration reads it ("20s", "1m30s"), min..max.
  void Duration(const std::string& flag, std::chrono::milliseconds* out,
                std::chrono::milliseconds min = std::chrono::milliseconds(0),
                std::chrono::milliseconds max = std::chrono::milliseconds::max()) {
    Custom(flag, [out, min, max](const std::string& value) {
      alarm::Result<std::chrono::milliseconds> d = alarm::ParseDuration(value, min, max);
      if (!d) return d.error().message();
      *out = *d;
      return std::string();
    });
  }

  // Any other value: `set` stores it and returns "", or returns why it is wrong.
  void Custom(const std::string& flag, std::function<std::string(const std::string&)> set) {
    app_.add_option_function<std::string>(flag,
                                          [flag, set](const std::string& value) {
                                            std::string error = set(value);
                                            if (!error.empty()) {
                                              throw CLI::ValidationError(flag, error);
                                            }
                                          })
        ->type_name("VALUE");
  }

  // -1 to go on; otherwise the exit status: 0 after --help, 2 after a usage
  // error ("<program>: <what is wrong> (see --help)" on stderr).
  int Parse(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::fputs(usage_.c_str(), stdout);
      return 0;
    } catch (const CLI::ParseError& e) {
      std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), e.what());
      return 2;
    }
    return -1;
  }

 private:
  std::string program_;
  std::string usage_;
  CLI::App app_;
};

}  // namespace vigil::bench
