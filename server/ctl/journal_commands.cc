#include "server/ctl/journal_commands.h"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "alarm/time_text.h"
#include "vigil/v1/journal.grpc.pb.h"

namespace vigil::ctl {

const char kJournalHelp[] = R"(usage: vigilctl journal verify [--from-seq N] [--against EXPORT]
       vigilctl journal export [--from-seq N] [--to-seq N | --from TIME --to TIME] --out FILE

The alarm journal is a hash chain: each entry's hash is SHA-256(previous hash
|| the entry's stored bytes) (docs/journal-integrity.md). An admin token.
  verify   walk the chain on the server and name the first broken entry
  export   write a signed export of a range (FILE and FILE.sig)
)";

namespace {

constexpr char kVerifyHelp[] =
    R"(usage: vigilctl journal verify [--from-seq N] [--against EXPORT]

Walk the alarm journal's hash chain on the server, page by page, from the
oldest kept chained entry (or seq N) to the newest, and print how many entries
verified and the newest entry's hash; or the first entry that does not hold
(missing, moved, or its bytes or hash changed) and what does not match.
  --from-seq N     start at seq N (its predecessor's stored hash is trusted)
  --against EXPORT also check that the chain still ends, at the last seq of an
                   earlier export file (vigilctl journal export), in the hash
                   that export recorded: a rewrite of the whole chain by whoever
                   holds the database shows only against such a copy
Exit 0 when the chain holds, 6 when it is broken.
)";

constexpr char kExportHelp[] =
    R"(usage: vigilctl journal export [--from-seq N] [--to-seq N | --from TIME --to TIME] --out FILE

Write a signed export of the alarm journal: FILE (JSON lines: a header, one
line per entry with its seq, chain hash, stored bytes in base64 and its fields
in words, an end line) and FILE.sig, the server's Ed25519 signature of FILE
(journal.signing_key_file). Check them with the public key alone:
  openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in FILE -sigfile FILE.sig
  /usr/bin/python3 deploy/verify-journal-export.py FILE
  --from-seq N, --to-seq N   seq range, both included (default: everything)
  --from TIME, --to TIME     or an event-time range (RFC 3339 or epoch ms):
                             the seqs from the first to the last entry in it
  --out FILE                 where to write (FILE.sig beside it)
Exit 7 when the range was larger than journal.export_max_bytes: FILE is signed
and complete up to the printed seq; export the rest from the next one.
)";

std::optional<uint64_t> ParseSeq(const std::optional<std::string>& text) {
  if (!text) return uint64_t{0};
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v == 0) return std::nullopt;
  return v;
}

// The last_seq and last_hash of an export file's end line.
struct ExportEnd {
  uint64_t last_seq = 0;
  std::string last_hash;
};

std::optional<ExportEnd> ReadExportEnd(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return std::nullopt;
  }
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  auto field = [&](std::string_view key) -> std::optional<std::string> {
    const std::string quoted = "\"" + std::string(key) + "\":";
    const size_t at = last.find(quoted);
    if (at == std::string::npos) return std::nullopt;
    size_t begin = at + quoted.size();
    if (begin < last.size() && last[begin] == '"') ++begin;
    const size_t end = last.find_first_of("\",}", begin);
    return last.substr(begin, end - begin);
  };
  auto seq = field("last_seq");
  auto hash = field("last_hash");
  if (!last.starts_with("{\"end\":true") || !seq || !hash || hash->size() != 64) {
    *error = path + ": no export end line (is it a vigilctl journal export file?)";
    return std::nullopt;
  }
  ExportEnd out;
  out.last_hash = *hash;
  auto [p, ec] = std::from_chars(seq->data(), seq->data() + seq->size(), out.last_seq);
  if (ec != std::errc()) {
    *error = path + ": bad last_seq in the end line";
    return std::nullopt;
  }
  return out;
}

// Entries per VerifyJournal call (the server default).
constexpr uint64_t kPage = 100'000;

int Verify(Client& client, const Args& args) {
  const Command& self = JournalCommands()[0];
  const auto from = ParseSeq(args.Get("from-seq"));
  if (!from) return UsageError(self, "--from-seq needs a seq (a whole number from 1)");
  std::optional<ExportEnd> against;
  if (auto path = args.Get("against")) {
    std::string error;
    against = ReadExportEnd(*path, &error);
    if (!against) return UsageError(self, error);
  }
  auto stub = v1::JournalIntegrity::NewStub(client.channel());
  uint64_t next = *from;
  uint64_t verified = 0;
  uint64_t first = 0;
  v1::VerifyJournalResponse response;
  auto call = [&](uint64_t from_seq, uint64_t max_entries) {
    v1::VerifyJournalRequest request;
    request.set_from_seq(from_seq);
    request.set_max_entries(static_cast<uint32_t>(max_entries));
    grpc::ClientContext context;
    client.Prepare(&context, std::chrono::seconds(300));
    response.Clear();
    return stub->VerifyJournal(&context, request, &response);
  };
  for (;;) {
    if (grpc::Status status = call(next, kPage); !status.ok()) {
      return RpcFailed("journal verify", status);
    }
    if (response.genesis_seq() == 0) {
      std::cout << "no chained entries yet: the chain starts with the next journal entry\n";
      return against ? kExitChainBroken : kExitOk;
    }
    if (first == 0) first = response.first_seq();
    verified += response.verified();
    if (response.broken()) {
      std::cout << "journal chain BROKEN at seq " << response.broken_seq() << ": "
                << response.problem() << "\n"
                << "  " << verified << " entries verified before it";
      if (verified > 0) std::cout << " (seq " << first << ".." << response.last_seq() << ")";
      std::cout << "\n";
      return kExitChainBroken;
    }
    if (response.next_seq() == 0) break;
    next = response.next_seq();
  }
  std::cout << "journal chain verified: " << verified << " entries";
  if (verified > 0) std::cout << ", seq " << first << ".." << response.last_seq();
  std::cout << "\n  last hash " << response.last_hash() << "\n";
  if (response.genesis_seq() > 1 && (*from == 0 || *from < response.genesis_seq())) {
    std::cout << "  entries before seq " << response.genesis_seq()
              << " were written before the chain existed and are not covered\n";
  }
  if (against) {
    // The whole stored chain holds; does it pass through the export's hash?
    // Checking the one entry gives its recomputed hash h(last_seq).
    if (grpc::Status status = call(against->last_seq, 1); !status.ok()) {
      return RpcFailed("journal verify", status);
    }
    if (response.verified() != 1 || response.last_seq() != against->last_seq) {
      std::cout << "journal chain BROKEN against the export: seq " << against->last_seq
                << " is not in the stored chain (the journal ends before it, or it expired)\n";
      return kExitChainBroken;
    }
    if (response.last_hash() != against->last_hash) {
      std::cout << "journal chain BROKEN against the export: seq " << against->last_seq
                << " has hash " << response.last_hash() << " on the server, " << against->last_hash
                << " in the export (the chain was rewritten)\n";
      return kExitChainBroken;
    }
    std::cout << "  matches the export's last hash at seq " << against->last_seq << "\n";
  }
  return kExitOk;
}

int Export(Client& client, const Args& args) {
  const Command& self = JournalCommands()[1];
  const auto out_path = args.Get("out");
  if (!out_path || out_path->empty()) return UsageError(self, "--out FILE is required");
  const auto from_seq = ParseSeq(args.Get("from-seq"));
  const auto to_seq = ParseSeq(args.Get("to-seq"));
  if (!from_seq || !to_seq) return UsageError(self, "--from-seq/--to-seq need a seq (from 1)");
  v1::ExportJournalRequest request;
  request.set_from_seq(*from_seq);
  request.set_to_seq(*to_seq);
  for (const char* name : {"from", "to"}) {
    auto text = args.Get(name);
    if (!text) continue;
    const alarm::Result<int64_t> at = alarm::ParseTimeOrEpochMs(*text);
    if (!at) return UsageError(self, "--" + std::string(name) + ": " + at.error().message());
    if (std::string_view(name) == "from") {
      request.set_from_ms(*at);
    } else {
      request.set_to_ms(*at);
    }
  }
  if ((*from_seq != 0 || *to_seq != 0) && (args.Has("from") || args.Has("to"))) {
    return UsageError(self, "give --from-seq/--to-seq or --from/--to, not both");
  }
  const std::string sig_path = *out_path + ".sig";
  std::ofstream file(*out_path, std::ios::binary | std::ios::trunc);
  if (!file) {
    std::cerr << "vigilctl: cannot write " << *out_path << "\n";
    return kExitFailed;
  }
  auto stub = v1::JournalIntegrity::NewStub(client.channel());
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(3600));
  auto reader = stub->ExportJournal(&context, request);
  v1::ExportJournalChunk chunk;
  std::string signature;
  v1::ExportJournalSummary summary;
  bool have_summary = false;
  while (reader->Read(&chunk)) {
    file.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (chunk.has_summary()) {
      signature = chunk.signature();
      summary = chunk.summary();
      have_summary = true;
    }
  }
  const grpc::Status status = reader->Finish();
  file.close();
  if (!status.ok() || !have_summary || !file) {
    std::error_code ec;
    std::filesystem::remove(*out_path, ec);
    if (!status.ok()) return RpcFailed("journal export", status);
    std::cerr << "vigilctl: journal export: "
              << (have_summary ? "cannot write " + *out_path : std::string("no signature received"))
              << "\n";
    return kExitFailed;
  }
  std::ofstream sig(sig_path, std::ios::binary | std::ios::trunc);
  sig.write(signature.data(), static_cast<std::streamsize>(signature.size()));
  sig.close();
  if (!sig) {
    std::cerr << "vigilctl: cannot write " << sig_path << "\n";
    return kExitFailed;
  }
  std::cout << "exported " << summary.entries() << " entries";
  if (summary.entries() > 0)
    std::cout << ", seq " << summary.from_seq() << ".." << summary.last_seq();
  std::cout << " (" << summary.bytes() << " bytes) to " << *out_path << "\n"
            << "  signature " << sig_path << " (Ed25519, key sha256 "
            << summary.signing_key_sha256() << ")\n"
            << "  last hash " << summary.last_hash() << "\n"
            << "check: openssl pkeyutl -verify -pubin -inkey PUBLIC_KEY.pem -rawin -in "
            << *out_path << " -sigfile " << sig_path << "\n";
  if (!summary.complete()) {
    std::cerr << "vigilctl: journal export stopped at journal.export_max_bytes after seq "
              << summary.last_seq() << "; export the rest with --from-seq "
              << summary.last_seq() + 1 << "\n";
    return kExitIncomplete;
  }
  return kExitOk;
}

std::string WithExitCodes(const char* help) { return std::string(help) + "\n" + kExitCodesHelp; }

}  // namespace

std::span<const Command> JournalCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "journal verify",
       .help = WithExitCodes(kVerifyHelp),
       .options = {{"from-seq", true}, {"against", true}},
       .run = Verify},
      {.path = "journal export",
       .help = WithExitCodes(kExportHelp),
       .options =
           {{"from-seq", true}, {"to-seq", true}, {"from", true}, {"to", true}, {"out", true}},
       .run = Export},
  };
  return *commands;
}

}  // namespace vigil::ctl
