#include "coffeeshop/telemetry/logger.hpp"

#include "coffeeshop/util/clock.hpp"

#include "coffeeshop/util/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace coffeeshop {

namespace {

const char* level_name(log_level level) {
  switch (level) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::fatal: return "fatal";
  }
  return "info";
}

} // namespace

std::optional<log_level> parse_log_level(std::string_view name) {
  for (auto level : {log_level::trace, log_level::debug, log_level::info, log_level::warn,
                     log_level::error, log_level::fatal})
    if (name == level_name(level))
      return level;
  return std::nullopt;
}

logger::logger(log_level min_level, log_format format, std::string instance)
  : min_level_(min_level),
    format_(format),
    instance_(std::move(instance)),
    out_(std::make_shared<spdlog::logger>("coffeeshop",
                                          std::make_shared<spdlog::sinks::stdout_sink_mt>())) {
  // We render the whole line ourselves; spdlog supplies the thread-safe sink.
  out_->set_pattern("%v");
  out_->set_level(spdlog::level::trace);
  // Operators tail these lines and tests wait for "listening": never sit on a line.
  out_->flush_on(spdlog::level::trace);
}

logger::~logger() { flush(); }

void logger::log(log_level level, std::string_view msg, const boost::json::object& fields) {
  if (enabled(level))
    write(level, msg, fields);
}

void logger::announce(std::string_view msg, const boost::json::object& fields) {
  write(log_level::info, msg, fields);
}

void logger::write(log_level level, std::string_view msg, const boost::json::object& fields) {
  auto ts = format_rfc3339(now_ms());
  std::string line;
  if (format_ == log_format::json) {
    boost::json::object rec;
    rec.reserve(fields.size() + 3);
    rec["ts"] = ts;
    rec["level"] = level_name(level);
    rec["msg"] = msg;
    if (!instance_.empty())
      rec["instance"] = instance_;
    for (const auto& kv : fields)
      rec[kv.key()] = kv.value();
    line = to_json_text(rec);
  } else {
    line = ts;
    line += ' ';
    line += level_name(level);
    line += ' ';
    line += msg;
    if (!instance_.empty())
      line += " instance=" + instance_;
    for (const auto& kv : fields) {
      line += ' ';
      line += kv.key();
      line += '=';
      if (kv.value().is_string())
        line += kv.value().get_string().c_str();
      else
        line += to_json_text(kv.value());
    }
  }
  out_->info(line);
}

void logger::flush() { out_->flush(); }

} // namespace coffeeshop
