// TLS for the gRPC listener: the server credentials built from
// server.tls (options.h), and checks of its files. With TLS on, gRPC's
// FileWatcherCertificateProvider re-reads the certificate, key and client CA
// every refresh_interval on a thread of its own: replaced files are used by
// new handshakes, open connections and their streams carry on. Free
// functions; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "alarm/status.h"
#include "server/config/options.h"

namespace grpc {
class ServerCredentials;
}

namespace vigil::server {

// Reads the files of `tls` as the watcher will: the certificate chain and the
// private key parse and match, the leaf certificate is within its validity
// period, and the client CA file (when set) holds at least one certificate.
// Returns a one-line summary ("subject=... not_after=...") for the log.
// kInvalidArgument naming the key, the file and the problem. Off: "off".
alarm::Result<std::string> CheckTlsFilesSummary(const TlsOptions& tls);
inline alarm::Status CheckTlsFiles(const TlsOptions& tls) {
  auto summary = CheckTlsFilesSummary(tls);
  return summary ? alarm::Status::Ok() : summary.error();
}

// The notAfter time of the first certificate in `cert_file`, in seconds
// since the Unix epoch (for the vigil_tls_certificate_not_after_seconds
// gauge). kInvalidArgument when the file cannot be read or holds no PEM
// certificate.
alarm::Result<int64_t> CertificateNotAfter(const std::filesystem::path& cert_file);

// Insecure credentials when TLS is off; otherwise TLS credentials whose
// certificates come from a file watcher. Clients are asked for a certificate
// when client_ca_file is set (verified against it; required with
// require_client_cert).
std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(const TlsOptions& tls);

}  // namespace vigil::server
