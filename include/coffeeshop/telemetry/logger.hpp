#pragma once

#include "coffeeshop/config.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string_view>

namespace spdlog {
class logger;
}

namespace coffeeshop {

enum class log_level { trace, debug, info, warn, error, fatal };

/// Parses "trace".."error" (and "fatal"); nullopt when unknown.
std::optional<log_level> parse_log_level(std::string_view name);

/// Writes one record per line to stdout: a JSON object with `ts`, `level`,
/// `msg` and the context fields, or human text. Safe to call from any thread.
class logger {
public:
  /// `instance`, when not empty, names this daemon on every line (several
  /// daemons sharing one store log to one place).
  logger(log_level min_level, log_format format, std::string instance = {});
  ~logger();

  bool enabled(log_level level) const {
    return level >= min_level_.load(std::memory_order_relaxed);
  }

  /// Changes the lowest level written (a config reload); lines already written stay.
  void set_level(log_level level) { min_level_.store(level, std::memory_order_relaxed); }

  void log(log_level level, std::string_view msg, const boost::json::object& fields = {});

  void info(std::string_view msg, const boost::json::object& fields = {}) {
    log(log_level::info, msg, fields);
  }
  void warn(std::string_view msg, const boost::json::object& fields = {}) {
    log(log_level::warn, msg, fields);
  }
  void error(std::string_view msg, const boost::json::object& fields = {}) {
    log(log_level::error, msg, fields);
  }

  /// Writes an info line whatever the level: start-up and shutdown milestones
  /// ("listening", "stopped") that tools and operators wait for.
  void announce(std::string_view msg, const boost::json::object& fields = {});

  /// Forces buffered lines out (at shutdown).
  void flush();

private:
  void write(log_level level, std::string_view msg, const boost::json::object& fields);

  std::atomic<log_level> min_level_;
  log_format format_;
  std::string instance_;
  std::shared_ptr<spdlog::logger> out_;
};

} // namespace coffeeshop
