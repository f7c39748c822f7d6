#include "server/api/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>

namespace vigil::server {
namespace {

using alarm::Status;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

Status Bad(std::string_view key, const std::filesystem::path& file, std::string_view problem) {
  return Status::InvalidArgument("server.tls." + std::string(key) + ": " + file.string() + ": " +
                                 std::string(problem));
}

alarm::Result<BioPtr> Open(std::string_view key, const std::filesystem::path& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (bio == nullptr) return Bad(key, file, "cannot be read");
  return bio;
}

std::string Subject(X509* cert) {
  char buffer[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof(buffer));
  return buffer;
}

std::string NotAfter(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(out.get(), X509_get0_notAfter(cert));
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

alarm::Result<std::string> CheckTlsFilesSummary(const TlsOptions& tls) {
  if (!tls.enabled) return std::string("off");
  auto cert_bio = Open("cert_file", tls.cert_file);
  if (!cert_bio) return cert_bio.error();
  X509Ptr cert(PEM_read_bio_X509(cert_bio->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return Bad("cert_file", tls.cert_file, "no PEM certificate in it");
  auto key_bio = Open("key_file", tls.key_file);
  if (!key_bio) return key_bio.error();
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio->get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return Bad("key_file", tls.key_file, "no PEM private key in it (or it is encrypted)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Bad("key_file", tls.key_file, "does not match the certificate in cert_file");
  }
  time_t now = std::time(nullptr);
  if (X509_cmp_time(X509_get0_notAfter(cert.get()), &now) < 0) {
    return Bad("cert_file", tls.cert_file, "the certificate expired on " + NotAfter(cert.get()));
  }
  if (X509_cmp_time(X509_get0_notBefore(cert.get()), &now) > 0) {
    return Bad("cert_file", tls.cert_file, "the certificate is not valid yet");
  }
  std::string summary = "subject=" + Subject(cert.get()) + " not_after=" + NotAfter(cert.get());
  if (!tls.client_ca_file.empty()) {
    auto ca_bio = Open("client_ca_file", tls.client_ca_file);
    if (!ca_bio) return ca_bio.error();
    int count = 0;
    while (X509Ptr ca{PEM_read_bio_X509(ca_bio->get(), nullptr, nullptr, nullptr)}) ++count;
    if (count == 0) return Bad("client_ca_file", tls.client_ca_file, "no PEM certificate in it");
    summary += " client_cas=" + std::to_string(count);
  }
  return summary;
}

alarm::Result<int64_t> CertificateNotAfter(const std::filesystem::path& cert_file) {
  auto bio = Open("cert_file", cert_file);
  if (!bio) return bio.error();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return Bad("cert_file", cert_file, "no PEM certificate in it");
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return Bad("cert_file", cert_file, "unreadable notAfter time");
  }
  return static_cast<int64_t>(timegm(&tm));
}

std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(const TlsOptions& tls) {
  if (!tls.enabled) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file.string(), tls.cert_file.string(), tls.client_ca_file.string(),
      static_cast<unsigned int>(tls.refresh_interval.count()));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(tls.require_client_cert
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace vigil::server
