#include "server/config/signing_key.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <fstream>
#include <sstream>

namespace vigil::server {

using alarm::Status;

struct SigningKey::Key {
  ~Key() { EVP_PKEY_free(pkey); }
  EVP_PKEY* pkey = nullptr;
};

SigningKey::SigningKey(std::unique_ptr<Key> key) : key_(std::move(key)) {}
SigningKey::~SigningKey() = default;

alarm::Result<std::shared_ptr<const SigningKey>> SigningKey::Load(
    const std::filesystem::path& pem_file) {
  std::ifstream in(pem_file, std::ios::binary);
  if (!in) return Status::IOError(pem_file.string() + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Status::Internal("out of memory");
  auto key = std::make_unique<Key>();
  key->pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key->pkey == nullptr) {
    return Status::InvalidArgument(pem_file.string() +
                                   ": no PEM private key in it (make one with `openssl genpkey "
                                   "-algorithm ed25519 -out " +
                                   pem_file.filename().string() + "`)");
  }
  if (EVP_PKEY_get_id(key->pkey) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument(pem_file.string() + ": a " +
                                   std::string(EVP_PKEY_get0_type_name(key->pkey)) +
                                   " key, not Ed25519 (journal exports are signed with Ed25519)");
  }
  std::shared_ptr<SigningKey> out(new SigningKey(std::move(key)));
  // Public key: PEM and the SHA-256 of its DER.
  unsigned char* der = nullptr;
  const int der_len = i2d_PUBKEY(out->key_->pkey, &der);
  BIO* pub = BIO_new(BIO_s_mem());
  if (der_len <= 0 || pub == nullptr || PEM_write_bio_PUBKEY(pub, out->key_->pkey) != 1) {
    OPENSSL_free(der);
    BIO_free(pub);
    return Status::Internal("cannot encode the public key of " + pem_file.string());
  }
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(der, static_cast<size_t>(der_len), digest.data());
  OPENSSL_free(der);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    out->public_sha256_ += kHex[b >> 4];
    out->public_sha256_ += kHex[b & 15];
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(pub, &data);
  out->public_pem_.assign(data, static_cast<size_t>(len));
  BIO_free(pub);
  return std::shared_ptr<const SigningKey>(std::move(out));
}

alarm::Result<std::string> SigningKey::Sign(std::string_view message) const {
  std::string signature(64, '\0');
  size_t len = signature.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  // Ed25519 signs the message itself (no digest): one-shot EVP_DigestSign.
  const bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_->pkey) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len != 64) return Status::Internal("Ed25519 signing failed");
  return signature;
}

}  // namespace vigil::server
