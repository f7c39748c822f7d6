// SigningKey: the Ed25519 private key (journal.signing_key_file) that signs
// alarm journal exports, so a regulator can check an export with the public
// key alone (`openssl pkeyutl -verify -rawin`, docs/journal-integrity.md).
// Loaded at start and by --check-config. Thread-safety: immutable after Load;
// Sign may run on any thread, concurrently.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "alarm/status.h"

namespace vigil::server {

class SigningKey {
 public:
  // Reads a PEM private key from `pem_file`. Errors: kIOError when the file
  // cannot be read; kInvalidArgument when it holds no PEM private key, or one
  // of another algorithm than Ed25519 (the message names the file).
  static alarm::Result<std::shared_ptr<const SigningKey>> Load(
      const std::filesystem::path& pem_file);
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // The 64-byte Ed25519 signature of `message` (pure Ed25519, as `openssl
  // pkeyutl -sign -rawin` makes it). kInternal if libcrypto fails.
  alarm::Result<std::string> Sign(std::string_view message) const;

  // The public key as PEM (SubjectPublicKeyInfo), what `openssl pkey -pubout` prints.
  const std::string& public_key_pem() const { return public_pem_; }
  // SHA-256 of the DER public key, 64 hex: names the key in exports.
  const std::string& public_key_sha256() const { return public_sha256_; }

 private:
  struct Key;
  explicit SigningKey(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string public_pem_;
  std::string public_sha256_;
};

}  // namespace vigil::server
