// crypto/self_signed.h: a development TLS certificate (`gatehouse serve --tls-self-signed`).
#pragma once
#include <string>

#include "core/result.h"

namespace gatehouse::crypto {

// Makes `cert_path` and `key_path` (PEM; the key 0600) unless both exist: an ECDSA P-256 key
// and a self-signed certificate valid for a year for `host` (an IP address or DNS name, in
// the subjectAltName with localhost and 127.0.0.1). For development only: clients must be told
// to trust this very certificate.
Result<void, std::string> ensure_self_signed(const std::string& cert_path, const std::string& key_path,
                                             const std::string& host);

}  // namespace gatehouse::crypto
