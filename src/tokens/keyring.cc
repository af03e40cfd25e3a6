#include "tokens/keyring.h"

namespace gatehouse::tokens {
namespace {

std::size_t slot(JwsAlg alg) { return static_cast<std::size_t>(alg); }

}  // namespace

KeyRing::KeyRing(store::SigningKeyStore& store, const Clock& clock, KeyRingSettings settings)
    : store_(store), clock_(clock), settings_(std::move(settings)), snapshot_(std::make_shared<const Snapshot>()) {}

Result<std::string, std::string> KeyRing::add_key(JwsAlg alg) {
  auto key = JwsKey::generate(alg);
  if (!key) return tl::unexpected(key.error());
  const std::int64_t now = clock_.now_unix();
  const store::SigningKeyRecord record{.kid = key->kid(), .alg = std::string(alg_name(alg)),
                                       .private_pem = key->private_pem(), .created_at = now};
  if (auto added = store_.add_signing_key(record, now, now + settings_.retired_key_lifetime.count()); !added)
    return tl::unexpected("storing the new signing key failed: " + added.error().message);
  return key->kid();
}

Result<void, std::string> KeyRing::ensure_current(JwsAlg alg, const std::vector<store::SigningKeyRecord>& records) {
  for (const auto& r : records)
    if (r.alg == alg_name(alg) && !r.retired_at) return {};
  auto added = add_key(alg);
  if (!added) return tl::unexpected(added.error());
  return {};
}

Result<void, std::string> KeyRing::load() {
  std::lock_guard lock(write_mutex_);
  const std::int64_t now = clock_.now_unix();
  auto records = store_.list_signing_keys(now);
  if (!records) return tl::unexpected("reading signing keys failed: " + records.error().message);
  // First start: the access-token algorithm's key (RS256 comes from ensure_rs256()).
  if (settings_.access_alg != JwsAlg::HS256) {
    if (auto ok = ensure_current(settings_.access_alg, *records); !ok) return ok;
    records = store_.list_signing_keys(now);
    if (!records) return tl::unexpected("reading signing keys failed: " + records.error().message);
  }

  auto next = std::make_shared<Snapshot>();
  std::string jwks = "{\"keys\":[";
  for (const auto& r : *records) {
    const auto alg = parse_alg(r.alg);
    if (!alg || *alg == JwsAlg::HS256) continue;
    // Keys of this process's earlier loads are reused: parsing PEM is the slow part.
    std::shared_ptr<const JwsKey> key;
    if (auto old = snapshot()->by_kid.find(r.kid); old != snapshot()->by_kid.end()) {
      key = old->second;
    } else {
      auto parsed = JwsKey::from_private_pem(*alg, r.private_pem, r.kid);
      if (!parsed) return tl::unexpected("signing key " + r.kid + ": " + parsed.error());
      key = std::make_shared<const JwsKey>(std::move(*parsed));
    }
    next->keys.push_back(key);
    next->by_kid.emplace(r.kid, key);
    const bool current = !r.retired_at;
    if (current) next->current[slot(*alg)] = key;  // oldest first: the newest current wins
    next->info.push_back(KeyInfo{.kid = r.kid, .alg = *alg, .created_at = r.created_at, .retired_at = r.retired_at,
                                 .expires_at = r.expires_at, .current = current});
    if (jwks.back() != '[') jwks.push_back(',');
    jwks += key->public_jwk();
  }
  jwks += "]}";
  next->jwks = std::move(jwks);
  if (!settings_.hs256_secret.empty()) {
    auto key = JwsKey::hmac(settings_.hs256_secret, {});
    if (!key) return tl::unexpected("tokens.hs256_secret: " + key.error());
    key->set_kid(key->thumbprint());
    next->hs256 = std::make_shared<const JwsKey>(std::move(*key));
    next->current[slot(JwsAlg::HS256)] = next->hs256;
  }
  snapshot_.store(std::move(next), std::memory_order_release);
  return {};
}

Result<void, std::string> KeyRing::ensure_rs256() {
  if (current(JwsAlg::RS256)) return {};
  {
    std::lock_guard lock(write_mutex_);
    auto records = store_.list_signing_keys(clock_.now_unix());
    if (!records) return tl::unexpected("reading signing keys failed: " + records.error().message);
    if (auto ok = ensure_current(JwsAlg::RS256, *records); !ok) return ok;
  }
  return load();
}

Result<std::string, std::string> KeyRing::rotate(JwsAlg alg) {
  if (alg == JwsAlg::HS256)
    return tl::unexpected(std::string("HS256 uses the configured secret; change tokens.hs256_secret to rotate it"));
  std::string kid;
  {
    std::lock_guard lock(write_mutex_);
    auto added = add_key(alg);
    if (!added) return added;
    kid = *added;
  }
  if (auto loaded = load(); !loaded) return tl::unexpected(loaded.error());
  return kid;
}

std::shared_ptr<const JwsKey> KeyRing::current(JwsAlg alg) const { return snapshot()->current[slot(alg)]; }

std::shared_ptr<const JwsKey> KeyRing::find(std::string_view kid) const {
  const auto snap = snapshot();
  if (snap->hs256 && kid == snap->hs256->kid()) return snap->hs256;
  auto it = snap->by_kid.find(std::string(kid));
  return it == snap->by_kid.end() ? nullptr : it->second;
}

std::shared_ptr<const JwsKey> KeyRing::hs256() const { return snapshot()->hs256; }
std::string KeyRing::jwks() const { return snapshot()->jwks; }
std::vector<KeyInfo> KeyRing::list() const { return snapshot()->info; }

}  // namespace gatehouse::tokens
