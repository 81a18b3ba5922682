#include "net/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tally::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct HttpClient::Impl {
  asio::io_context ioc;
  std::string host;
  std::string port;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  Result<void> Open() {
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return Fail(Errc::kUnavailable, "cannot resolve " + host + ": " + ec.message());
    stream = std::make_unique<beast::tcp_stream>(ioc);
    stream->connect(endpoints, ec);
    if (ec) {
      return Fail(Errc::kUnavailable,
                  "cannot connect to " + host + ":" + port + ": " + ec.message());
    }
    stream->socket().set_option(asio::ip::tcp::no_delay(true), ec);
    buffer.clear();
    return {};
  }
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& base_url) {
  std::string rest;
  if (base_url.rfind("http://", 0) == 0) {
    rest = base_url.substr(7);
  } else if (base_url.rfind("https://", 0) == 0) {
    return Fail(Errc::kUnsupported, "https:// is not supported by the tools; use http://");
  } else {
    return Fail(Errc::kInvalidArgument, "url '" + base_url + "' must start with http://");
  }
  rest = rest.substr(0, rest.find('/'));
  std::unique_ptr<HttpClient> c(new HttpClient());
  const size_t colon = rest.rfind(':');
  c->impl_->host = colon == std::string::npos ? rest : rest.substr(0, colon);
  c->impl_->port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  if (auto r = c->impl_->Open(); !r) return r.error();
  return c;
}

Result<ClientResponse> HttpClient::Request(
    const std::string& method, const std::string& path, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, impl_->host);
  req.set(http::field::user_agent, "tally-tools");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->stream) {
      if (auto r = impl_->Open(); !r) return r.error();
    }
    boost::system::error_code ec;
    http::write(*impl_->stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) http::read(*impl_->stream, impl_->buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();  // a dropped keep-alive connection: reconnect once
      if (attempt == 1) return Fail(Errc::kUnavailable, method + " " + path + ": " + ec.message());
      continue;
    }
    auto res = parser.release();
    ClientResponse out{static_cast<int>(res.result_int()), std::move(res.body())};
    if (!res.keep_alive()) impl_->stream.reset();
    return out;
  }
  return Fail(Errc::kUnavailable, method + " " + path + ": no answer");
}

}  // namespace tally::net
