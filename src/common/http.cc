#include "common/http.h"

#include <fmt/format.h>

#include "common/json_text.h"

namespace tally {

std::string_view HttpMethodName(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet: return "GET";
    case HttpMethod::kHead: return "HEAD";
    case HttpMethod::kPost: return "POST";
    case HttpMethod::kPut: return "PUT";
    case HttpMethod::kDelete: return "DELETE";
    case HttpMethod::kPatch: return "PATCH";
    case HttpMethod::kOptions: return "OPTIONS";
    case HttpMethod::kOther: return "OTHER";
  }
  return "OTHER";
}

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

bool HttpRequest::HasHeader(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.first == lower_name) return true;
  }
  return false;
}

std::string_view RouteParams::Get(std::string_view name) const {
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  return {};
}

Responder::Responder(Deliver deliver) : state_(std::make_shared<State>(std::move(deliver))) {}

void Responder::Send(HttpResponse&& response) const {
  if (!state_ || state_->sent.exchange(true, std::memory_order_acq_rel)) return;
  state_->deliver(std::move(response));
}

bool Responder::Sent() const { return state_ && state_->sent.load(std::memory_order_acquire); }

void Responder::OnAbandoned(std::function<void()> abandoned) const {
  if (!state_) return;
  std::lock_guard lock(state_->mu);
  state_->abandoned = std::move(abandoned);
}

void Responder::Abandon() const {
  if (!state_ || state_->sent.load(std::memory_order_acquire)) return;
  std::function<void()> f;
  {
    std::lock_guard lock(state_->mu);
    f.swap(state_->abandoned);
  }
  if (f) f();
}

Responder::State::~State() {
  if (!sent.load(std::memory_order_acquire) && deliver) {
    deliver(ErrorResponse(500, "the request was dropped without an answer", ""));
  }
}

std::string Clip(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return std::string(text.substr(0, cut)) + "… (" + std::to_string(text.size()) + " bytes)";
}

HttpResponse ErrorResponse(int http_status, std::string_view message, std::string_view path) {
  HttpResponse r;
  r.status = http_status;
  // An error never echoes more than a few KB of what the client sent.
  r.body = fmt::format("{{\"status\":{{\"code\":{},\"message\":{}}},\"path\":{}}}", http_status,
                       JsonString(Clip(message, 2048)), JsonString(Clip(path, 512)));
  return r;
}

HttpResponse ErrorResponse(const Error& error, std::string_view path) {
  return ErrorResponse(HttpStatusFor(error.code), error.message, path);
}

HttpResponse TextResponse(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

bool PercentDecode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query, bool* ok) {
  std::vector<std::pair<std::string, std::string>> out;
  if (ok != nullptr) *ok = true;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      std::string key;
      std::string value;
      const bool good =
          PercentDecode(part.substr(0, eq), key, true) &&
          PercentDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1),
                        value, true);
      if (good) {
        out.emplace_back(std::move(key), std::move(value));
      } else if (ok != nullptr) {
        *ok = false;
      }
    }
    pos = amp + 1;
  }
  return out;
}

}  // namespace tally
