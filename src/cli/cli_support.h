// cli/cli_support.h: what every store-backed subcommand starts with.
#pragma once
#include <memory>

#include "app/app.h"
#include "config/config.h"
#include "core/context.h"

namespace gatehouse::cli {

// Audit events made from the command line say so.
inline const RequestContext kCliContext{.ip = {}, .user_agent = "gatehouse-cli", .request_id = {}};

// The App on the configured store, or null after printing why on stderr.
std::unique_ptr<app::App> open_or_report(const config::Config& config);

}  // namespace gatehouse::cli
