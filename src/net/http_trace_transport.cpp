#include "coffeeshop/net/http_trace_transport.hpp"

#include "coffeeshop/net/upstream_client.hpp"

namespace coffeeshop::net {

namespace {

class http_trace_transport final : public trace_transport {
public:
  http_reply send(const http_call& call) override { return client_.perform(call); }

private:
  upstream_client client_;
};

} // namespace

std::unique_ptr<trace_transport> make_http_trace_transport() {
  return std::make_unique<http_trace_transport>();
}

} // namespace coffeeshop::net
