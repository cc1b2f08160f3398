#include "coffeeshop/domain/menu.hpp"

#include "coffeeshop/util/json_fields.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <utility>

namespace coffeeshop {

namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// ASCII case-insensitive equality; menu names are plain ASCII, and folding
/// only ASCII keeps UTF-8 bytes untouched.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

/// Largest price or delta a menu file may hold: far below the point where
/// 100 x 50 lines could overflow or lose precision as a double on the wire.
constexpr cents max_amount = 100'000'000; // 1,000,000.00

/// Reads a JSON amount with at most two decimals into cents.
bool to_cents(const boost::json::value& v, cents& out) {
  if (!v.is_number())
    return false;
  const double x = v.to_number<double>();
  if (!std::isfinite(x) || std::fabs(x) > static_cast<double>(max_amount) / 100.0)
    return false;
  const double scaled = x * 100.0;
  const long long rounded = std::llround(scaled);
  // Anything that is not a whole number of cents (4.005) is a typo, not a price.
  if (std::fabs(scaled - static_cast<double>(rounded)) > 1e-6)
    return false;
  out = rounded;
  return true;
}

/// False, with `error` naming the first member of `obj` that is not in `allowed`.
bool only_known_fields(const boost::json::object& obj, std::string_view path,
                       std::initializer_list<std::string_view> allowed, std::string& error) {
  const auto unknown = unknown_fields(obj, path, allowed);
  if (unknown.empty())
    return true;
  error = unknown.front() + ": unknown field";
  return false;
}

/// The non-empty string member "name" of the object at `path`, or nullopt with `error` set.
std::optional<std::string> required_name(const boost::json::object& obj, const std::string& path,
                                         std::string& error) {
  const auto* name = obj.if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty()) {
    error = path + ".name: must be a non-empty string";
    return std::nullopt;
  }
  return std::string(name->get_string());
}

std::optional<std::string> parse_currency(const boost::json::object& root, std::string& error) {
  const auto* currency = root.if_contains("currency");
  const auto* text = currency ? currency->if_string() : nullptr;
  bool ok = text && text->size() == 3;
  if (ok)
    for (char c : *text)
      ok = ok && c >= 'A' && c <= 'Z';
  if (!ok) {
    error = "currency: must be a three-letter upper-case ISO 4217 code such as \"USD\"";
    return std::nullopt;
  }
  return std::string(text->c_str());
}

/// Parses products[i].variations[j] of `p`, whose earlier variations are already in place
/// (duplicates are checked against them).
std::optional<variation> parse_variation(const boost::json::value& value, const std::string& vpath,
                                         const product& p, std::string& error) {
  const auto* vobj = value.if_object();
  if (!vobj) {
    error = vpath + ": must be an object";
    return std::nullopt;
  }
  if (!only_known_fields(*vobj, vpath, {"name", "priceDelta"}, error))
    return std::nullopt;
  variation var;
  auto name = required_name(*vobj, vpath, error);
  if (!name)
    return std::nullopt;
  var.name = std::move(*name);
  if (p.find_variation(var.name)) {
    error = vpath + ".name: duplicate variation '" + var.name + "' (names are case-insensitive)";
    return std::nullopt;
  }
  // A delta may be negative (a cheaper variation) but never below zero in total.
  const auto* delta = vobj->if_contains("priceDelta");
  if (!delta || !to_cents(*delta, var.price_delta)) {
    error = vpath + ".priceDelta: must be an amount with at most 2 decimals";
    return std::nullopt;
  }
  if (p.price + var.price_delta < 0) {
    error = vpath + ".priceDelta: makes the price of '" + p.name + "' negative";
    return std::nullopt;
  }
  return var;
}

/// Appends the "variations" member of `obj` (absent or null: none) to `p`.
bool parse_variations(const boost::json::object& obj, const std::string& path, product& p,
                      std::string& error) {
  const auto* variations = obj.if_contains("variations");
  if (!variations || variations->is_null())
    return true;
  const auto* arr = variations->if_array();
  if (!arr) {
    error = path + ".variations: must be an array";
    return false;
  }
  for (std::size_t j = 0; j < arr->size(); ++j) {
    auto var = parse_variation((*arr)[j], path + ".variations[" + std::to_string(j) + "]", p,
                               error);
    if (!var)
      return false;
    p.variations.push_back(std::move(*var));
  }
  return true;
}

/// Parses products[i]; `earlier` are products[0..i) (names must differ from theirs).
std::optional<product> parse_product(const boost::json::value& value, const std::string& path,
                                     const std::vector<product>& earlier, std::string& error) {
  const auto* obj = value.if_object();
  if (!obj) {
    error = path + ": must be an object";
    return std::nullopt;
  }
  if (!only_known_fields(*obj, path, {"name", "price", "variations"}, error))
    return std::nullopt;
  product p;
  auto name = required_name(*obj, path, error);
  if (!name)
    return std::nullopt;
  p.name = std::move(*name);
  for (const auto& other : earlier) {
    if (iequals(other.name, p.name)) {
      error = path + ".name: duplicate product '" + p.name + "' (names are case-insensitive)";
      return std::nullopt;
    }
  }
  const auto* price = obj->if_contains("price");
  if (!price || !to_cents(*price, p.price) || p.price < 0) {
    error = path + ".price: must be a non-negative amount with at most 2 decimals";
    return std::nullopt;
  }
  if (!parse_variations(*obj, path, p, error))
    return std::nullopt;
  return p;
}

std::optional<std::vector<product>> parse_products(const boost::json::object& root,
                                                   std::string& error) {
  const auto* value = root.if_contains("products");
  const auto* arr = value ? value->if_array() : nullptr;
  if (!arr || arr->empty()) {
    error = "products: must be a non-empty array";
    return std::nullopt;
  }
  std::vector<product> products;
  products.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto p = parse_product((*arr)[i], "products[" + std::to_string(i) + "]", products, error);
    if (!p)
      return std::nullopt;
    products.push_back(std::move(*p));
  }
  return products;
}

/// Validates one parsed menu document; on failure `error` is "<json path>: <problem>".
std::optional<menu> menu_from_json(const boost::json::value& doc, std::string& error) {
  const auto* root = doc.if_object();
  if (!root) {
    error = "(root): must be a JSON object";
    return std::nullopt;
  }
  if (!only_known_fields(*root, "", {"currency", "products"}, error))
    return std::nullopt;
  auto currency = parse_currency(*root, error);
  if (!currency)
    return std::nullopt;
  auto products = parse_products(*root, error);
  if (!products)
    return std::nullopt;
  return menu(std::move(*currency), std::move(*products));
}

} // namespace

const variation* product::find_variation(std::string_view wanted) const {
  for (const auto& v : variations)
    if (iequals(v.name, wanted))
      return &v;
  return nullptr;
}

menu::menu(std::string currency, std::vector<product> products)
  : currency_(std::move(currency)), products_(std::move(products)) {}

menu menu::built_in() {
  return menu("USD", {
                       {"Latte", 400, {{"Pumpkin Spice", 50}, {"Vanilla", 30}, {"Hazelnut", 40}}},
                       {"Espresso", 250, {{"Single Shot", 0}, {"Double Shot", 100}}},
                       {"Macchiato", 400, {{"Caramel", 50}, {"Vanilla", 30}}},
                       {"Iced Coffee", 350, {{"Regular", 0}, {"Sweetened", 30}, {"Extra Ice", 20}}},
                       {"Donuts", 200, {{"Glazed", 0}, {"Jelly", 30}, {"Boston Cream", 50}}},
                     });
}

std::optional<menu> menu::load_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  // A stream parser reports how far it got, so the error can name line and column.
  boost::json::stream_parser parser;
  boost::json::error_code ec;
  const std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec)
    parser.finish(ec);
  if (ec) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error = path + ": invalid JSON at line " + std::to_string(line) + ", column " +
            std::to_string(column) + ": " + ec.message();
    return std::nullopt;
  }
  auto result = menu_from_json(parser.release(), error);
  if (!result)
    error = path + ": " + error;
  return result;
}

const product* menu::find(std::string_view name) const {
  for (const auto& p : products_)
    if (iequals(p.name, name))
      return &p;
  return nullptr;
}

boost::json::value menu::to_json() const {
  boost::json::array products;
  products.reserve(products_.size());
  for (const auto& p : products_) {
    boost::json::array variations;
    variations.reserve(p.variations.size());
    for (const auto& v : p.variations)
      variations.push_back(
        boost::json::object{{"name", v.name}, {"priceDelta", to_wire_amount(v.price_delta)}});
    products.push_back(boost::json::object{{"name", p.name},
                                           {"price", to_wire_amount(p.price)},
                                           {"variations", std::move(variations)}});
  }
  return boost::json::object{{"currency", currency_}, {"products", std::move(products)}};
}

} // namespace coffeeshop
