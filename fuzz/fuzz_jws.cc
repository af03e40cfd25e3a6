// The JWS codec and verifier (tokens/jws.h): any token text, against one key of each algorithm.
// Decoding must reject or accept cleanly; verification must never accept a token this run did
// not sign (the fuzzer cannot forge a signature, so an acceptance is a finding).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "tokens/jws.h"

using gatehouse::tokens::JwsAlg;
using gatehouse::tokens::JwsKey;

namespace {

const std::vector<std::unique_ptr<JwsKey>>& keys() {
  static const auto all = [] {
    std::vector<std::unique_ptr<JwsKey>> out;
    auto hmac = JwsKey::hmac("a fuzzing secret of thirty-two bytes!", "HS256-fuzz");
    if (!hmac) std::abort();
    out.push_back(std::make_unique<JwsKey>(std::move(*hmac)));
    for (JwsAlg alg : {JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA}) {
      auto key = JwsKey::generate(alg);
      if (!key) std::abort();
      key->set_kid(std::string(gatehouse::tokens::alg_name(alg)) + "-fuzz");
      out.push_back(std::make_unique<JwsKey>(std::move(*key)));
    }
    return out;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  (void)gatehouse::tokens::split_compact(token);
  (void)gatehouse::tokens::decode_jws(token);
  for (const auto& key : keys())
    if (gatehouse::tokens::verify_jws(token, *key)) std::abort();  // a forged token verified
  return 0;
}
