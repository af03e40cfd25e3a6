// tests/support/temp_store.h: a migrated SQLite store in a fresh temporary directory.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "store/store.h"

namespace gatehouse::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct TempStore {
  TempDir dir;
  std::unique_ptr<store::Store> store;
  TempStore() {
    auto opened = store::open_store("sqlite://" + dir.path() + "/test.db");
    if (!opened) throw std::runtime_error(opened.error().message);
    store = std::move(*opened);
    if (!store->migrate()) throw std::runtime_error("migration failed");
  }
};

// An audit sink that keeps the lines for assertions.
}  // namespace gatehouse::testing
