#include "audit/audit.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/memory_sink.h"
#include "support/temp_store.h"

namespace gatehouse::audit {
namespace {

TEST(AuditLog, StoresAndWritesEveryEventWithAllFields) {
  testing::TempStore temp;
  testing::FakeClock clock;
  std::vector<std::string> lines;
  AuditLog log(*temp.store, std::make_unique<testing::MemorySink>(&lines), clock);
  log.record(RequestContext{.ip = "127.0.0.1", .user_agent = "ua", .request_id = "r1"},
             AuditEvent{.type = "login.failure", .success = false, .user_id = {}, .username = "bob",
                        .detail = {{"reason", "x\"y"}}});
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  for (const char* field : {"\"id\":", "\"time\":\"2030-01-01T00:00:00Z\"", "\"type\":\"login.failure\"",
                            "\"outcome\":\"failure\"", "\"user_id\":null", "\"username\":\"bob\"",
                            "\"ip\":\"127.0.0.1\"", "\"user_agent\":\"ua\"", "\"request_id\":\"r1\"",
                            "\"detail\":{\"reason\":\"x\\\"y\"}"})
    EXPECT_NE(line.find(field), std::string::npos) << field << " in " << line;
  auto stored = temp.store->list_audit(store::AuditQuery{});
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].type, "login.failure");
  EXPECT_EQ("{\"log\":\"audit\"," + AuditLog::to_json((*stored)[0]).substr(1), line);
}

}  // namespace
}  // namespace gatehouse::audit
