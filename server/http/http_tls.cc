#include "server/http/http_tls.h"

// Before Asio: g++ 12 in C++20 needs <utility> ahead of asio's awaitable.hpp.
#include <utility>
//
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>

namespace vigil::server {
namespace {

namespace ssl = boost::asio::ssl;
using alarm::Status;

// Certificate files are a few KiB; anything past this is not one.
constexpr std::streamsize kMaxFileBytes = 1 << 20;

alarm::Result<std::string> ReadFile(std::string_view key, const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Status::InvalidArgument("server.tls." + std::string(key) + ": " + file.string() +
                                   ": cannot be read");
  std::string bytes(static_cast<size_t>(kMaxFileBytes) + 1, '\0');
  in.read(bytes.data(), kMaxFileBytes + 1);
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > static_cast<size_t>(kMaxFileBytes)) {
    return Status::InvalidArgument("server.tls." + std::string(key) + ": " + file.string() +
                                   ": larger than 1 MiB");
  }
  return bytes;
}

}  // namespace

alarm::Result<std::unique_ptr<HttpTlsContext>> HttpTlsContext::Load(const TlsOptions& tls) {
  std::unique_ptr<HttpTlsContext> out(new HttpTlsContext(tls));
  auto files = out->ReadFiles();
  if (!files) return files.error();
  auto context = out->Build(*files);
  if (!context) return context.error();
  out->seen_ = std::move(*files);
  storage::MutexLock lock(&out->mu_);
  out->current_ = std::move(*context);
  return out;
}

std::shared_ptr<ssl::context> HttpTlsContext::Current() const {
  storage::MutexLock lock(&mu_);
  return current_;
}

uint64_t HttpTlsContext::reloads() const {
  storage::MutexLock lock(&mu_);
  return reloads_;
}

alarm::Result<bool> HttpTlsContext::Reload() {
  auto files = ReadFiles();
  if (!files) return files.error();
  if (*files == seen_) return false;
  seen_ = *files;
  auto context = Build(*files);
  if (!context) return context.error();
  storage::MutexLock lock(&mu_);
  current_ = std::move(*context);
  ++reloads_;
  return true;
}

alarm::Result<HttpTlsContext::Files> HttpTlsContext::ReadFiles() const {
  Files files;
  auto cert = ReadFile("cert_file", tls_.cert_file);
  if (!cert) return cert.error();
  files.cert = std::move(*cert);
  auto key = ReadFile("key_file", tls_.key_file);
  if (!key) return key.error();
  files.key = std::move(*key);
  if (!tls_.client_ca_file.empty()) {
    auto ca = ReadFile("client_ca_file", tls_.client_ca_file);
    if (!ca) return ca.error();
    files.client_ca = std::move(*ca);
  }
  return files;
}

alarm::Result<std::shared_ptr<ssl::context>> HttpTlsContext::Build(const Files& files) const {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  // TLS 1.2 and later only, as gRPC's defaults.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  context->use_certificate_chain(boost::asio::buffer(files.cert), ec);
  if (ec) {
    return Status::InvalidArgument("server.tls.cert_file: " + tls_.cert_file.string() +
                                   ": no usable PEM certificate chain (" + ec.message() + ")");
  }
  context->use_private_key(boost::asio::buffer(files.key), ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument("server.tls.key_file: " + tls_.key_file.string() +
                                   ": no usable PEM private key (" + ec.message() + ")");
  }
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("server.tls.key_file: " + tls_.key_file.string() +
                                   ": does not match the certificate in cert_file");
  }
  if (tls_.client_ca_file.empty()) {
    context->set_verify_mode(ssl::verify_none, ec);
    return context;
  }
  // Every certificate of the bundle is trusted and named to clients as
  // acceptable issuers.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(files.client_ca.data(), static_cast<int>(files.client_ca.size())), &BIO_free);
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  int count = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    if (X509_NAME* name = X509_NAME_dup(X509_get_subject_name(ca))) {
      sk_X509_NAME_push(names, name);
    }
    X509_free(ca);
    ++count;
  }
  SSL_CTX_set_client_CA_list(native, names);  // takes ownership
  if (count == 0) {
    return Status::InvalidArgument("server.tls.client_ca_file: " + tls_.client_ca_file.string() +
                                   ": no PEM certificate in it");
  }
  // A client that shows a certificate must show a valid one (as gRPC's
  // REQUEST_CLIENT_CERTIFICATE_AND_VERIFY); without one it may still use a
  // token, unless require_client_cert.
  context->set_verify_mode(tls_.require_client_cert
                               ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                               : ssl::verify_peer,
                           ec);
  return context;
}

std::vector<std::string> CertificateNames(X509* cert) {
  std::vector<std::string> names;
  const auto add = [&names](std::string name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(std::move(name));
    }
  };
  X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                    static_cast<size_t>(ASN1_STRING_length(cn))));
  }
  auto* alt =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (alt != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt, i);
      const ASN1_STRING* text = nullptr;
      if (name->type == GEN_DNS) text = name->d.dNSName;
      if (name->type == GEN_URI) text = name->d.uniformResourceIdentifier;
      if (name->type == GEN_EMAIL) text = name->d.rfc822Name;
      if (text == nullptr) continue;
      add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                      static_cast<size_t>(ASN1_STRING_length(text))));
    }
    GENERAL_NAMES_free(alt);
  }
  return names;
}

}  // namespace vigil::server
