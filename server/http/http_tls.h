// HttpTlsContext: the OpenSSL server context of an HTTPS listener (the
// console's, the gateways' HTTP ingest), built from server.tls's files and
// rebuilt when they change, as gRPC's certificate watcher does for the gRPC
// port (api/tls.h): Reload() re-reads the files, and when their bytes changed
// and still make a valid context (the key matches the certificate), new
// connections get the new one; open connections keep the context they were
// accepted with (each holds a reference). Bad new files leave the last good
// context in place. The files are read whole into memory first, so a
// certificate and key are always taken from one read of each.
// Thread-safety: Current() from any thread; Reload() from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alarm/status.h"
#include "server/config/options.h"
#include "storage/mutex.h"

namespace boost::asio::ssl {
class context;
}
typedef struct x509_st X509;

namespace vigil::server {

class HttpTlsContext {
 public:
  // Reads `tls`'s files (client_ca_file set: clients are asked for a
  // certificate, verified against it, and required with
  // require_client_cert). kInvalidArgument naming the file and the problem.
  static alarm::Result<std::unique_ptr<HttpTlsContext>> Load(const TlsOptions& tls);

  // The context for a connection accepted now.
  std::shared_ptr<boost::asio::ssl::context> Current() const;

  // Re-reads the files. True when they changed and new connections now use
  // them; false when unchanged; an error (the old context stays) when the
  // changed files are invalid. A file that keeps the same bad bytes is
  // reported once.
  alarm::Result<bool> Reload();

  // Certificate changes taken (for tests and the log).
  uint64_t reloads() const;

 private:
  explicit HttpTlsContext(TlsOptions tls) : tls_(std::move(tls)) {}
  struct Files {
    std::string cert, key, client_ca;
    bool operator==(const Files&) const = default;
  };
  alarm::Result<Files> ReadFiles() const;
  alarm::Result<std::shared_ptr<boost::asio::ssl::context>> Build(const Files& files) const;

  const TlsOptions tls_;
  Files seen_;  // the bytes last read, good or bad (only Reload's thread)
  mutable storage::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ VIGIL_GUARDED_BY(mu_);
  uint64_t reloads_ VIGIL_GUARDED_BY(mu_) = 0;
};

// The common name and subject alternative names (DNS, URI, e-mail) of
// `cert`, the names a gateway's certificate is known by (api/access.h), as
// gRPC reports them for its port.
std::vector<std::string> CertificateNames(X509* cert);

}  // namespace vigil::server
