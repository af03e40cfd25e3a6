#include "authn/change_feed.h"

namespace gatehouse::authn {

ChangeFeed::ChangeFeed(store::ChangeStore& store, tokens::Denylist& denylist, accounts::UserCache& users,
                       keys::ApiKeys& api_keys, const Clock& clock)
    : store_(store), denylist_(denylist), users_(users), api_keys_(api_keys), clock_(clock) {}

void ChangeFeed::follow(std::string kind, std::function<void(const std::string&)> invalidate,
                        std::function<void()> clear) {
  std::lock_guard lock(mutex_);
  followers_.push_back(Follower{std::move(kind), std::move(invalidate), std::move(clear)});
}

Result<void, store::StoreError> ChangeFeed::start() {
  std::lock_guard lock(mutex_);
  auto last = store_.last_change_seq();
  if (!last) return tl::unexpected(last.error());
  change_seq_ = *last;
  users_.clear();
  api_keys_.clear();
  for (const auto& f : followers_) f.clear();
  auto revocations = store_.revocations_since(0, clock_.now_unix());
  if (!revocations) return tl::unexpected(revocations.error());
  for (const auto& r : *revocations) {
    denylist_.add(r.kind, r.value, r.expires_at);
    revocation_seq_ = r.seq;
  }
  return {};
}

Result<void, store::StoreError> ChangeFeed::sync() {
  std::lock_guard lock(mutex_);
  // Changes first: a disable is recorded with its revocations in one transaction, and either
  // one alone already refuses the user's tokens.
  auto changes = store_.changes_since(change_seq_);
  if (!changes) return tl::unexpected(changes.error());
  for (const auto& c : *changes) {
    if (c.kind == "user") {
      users_.invalidate(c.ref);
      api_keys_.invalidate_user(c.ref);  // a disabled owner's keys were revoked with it
    } else if (c.kind == "api_key") {
      api_keys_.invalidate_key(c.ref);
    } else {
      for (const auto& f : followers_)
        if (f.kind == c.kind) f.invalidate(c.ref);
    }
    change_seq_ = c.seq;
  }
  auto revocations = store_.revocations_since(revocation_seq_, clock_.now_unix());
  if (!revocations) return tl::unexpected(revocations.error());
  for (const auto& r : *revocations) {
    denylist_.add(r.kind, r.value, r.expires_at);
    revocation_seq_ = r.seq;
  }
  return {};
}

}  // namespace gatehouse::authn
