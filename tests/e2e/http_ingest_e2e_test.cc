// End-to-end: gateways that speak HTTP. The real vigild with http.listen on,
// driven by real clients -- curl for the JSON batches, /usr/bin/python3's
// http.client for InfluxDB line protocol -- and read back through the gRPC
// Query API: stored, resends stored once, bad series and lines rejected by
// position while the rest is kept, another enterprise's sensors refused,
// hostile bodies answered with a clear error while vigild stays up, tokens and
// the readings rate as for gRPC.
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/small_disk.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-9, name: Mine Nine, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa }
  - { id: plant.t1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: plant.p1, enterprise: e-1, quantity: pressure, unit: MPa }
  - { id: m-1, enterprise: e-9, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-9, enterprise: e-9 }
)";

// gw-1's token is "gw-1-secret", gw-9's "gw-9-secret", the viewer's "shandong-secret".
constexpr char kAuth[] = R"(auth:
  tokens:
    - { name: gw-1, role: gateway, gateway: gw-1,
        sha256: 20dd623888ec143a675e3ca131b36f82232c1728f0caa389a39b091240bd54d6 }
    - { name: gw-9, role: gateway, gateway: gw-9,
        sha256: 743b1ce3cfe6293b1ca52987fcaedba0f7cbe262984362636cc5724282782194 }
    - { name: shandong, region: "37", role: viewer,
        sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }
)";

VigildProcess::Options HttpOptions(const std::string& extra = "") {
  return {.config_yaml =
              "storage: { durability: wal }\nhttp: { listen: \"127.0.0.1:0\"" + extra + " }\n",
          .registry_yaml = kRegistry};
}

// The http= address of vigild's last start line.
std::string HttpAddress(const VigildProcess& proc) {
  const std::string out = proc.Output();
  const size_t at = out.rfind(" http=");
  REQUIRE(at != std::string::npos);
  const size_t end = out.find_first_of(" \n", at + 6);
  return out.substr(at + 6, end - at - 6);
}

struct HttpResult {
  int status = 0;
  std::string headers;
  std::string body;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs a command (bounded by timeout(1)); its stdout.
std::string Run(const std::string& command) {
  std::string out;
  FILE* p = popen(("timeout 60 " + command).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  INFO(command);
  REQUIRE(WIFEXITED(rc));
  return out;
}

// POST `body` to http://address`target` with curl; `headers` as curl -H values.
HttpResult Curl(const std::string& address, const std::string& target, const std::string& body,
                const std::vector<std::string>& headers = {}) {
  testing::TempDir dir;
  WriteFile(dir / "in", body);
  std::string command = "curl -s -S -o " + ShellQuote((dir / "out").string()) + " -D " +
                        ShellQuote((dir / "hdr").string()) +
                        " -w '%{http_code}' -X POST --data-binary @" +
                        ShellQuote((dir / "in").string());
  for (const std::string& h : headers) command += " -H " + ShellQuote(h);
  command += " " + ShellQuote("http://" + address + target);
  HttpResult r;
  r.status = std::stoi(Run(command));
  r.headers = ReadFile(dir / "hdr");
  r.body = ReadFile(dir / "out");
  return r;
}

// POST with Python's http.client (what a Python gateway would use).
HttpResult PythonPost(const std::string& address, const std::string& target,
                      const std::string& body, const std::string& header_name = "",
                      const std::string& header_value = "") {
  testing::TempDir dir;
  WriteFile(dir / "in", body);
  WriteFile(dir / "post.py", R"(import http.client, sys
host, port = sys.argv[1].rsplit(':', 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
headers = {sys.argv[4]: sys.argv[5]} if sys.argv[4] else {}
c.request('POST', sys.argv[2], body=open(sys.argv[3], 'rb').read(), headers=headers)
r = c.getresponse()
sys.stdout.write(str(r.status) + '\n' + r.read().decode('utf-8', 'replace'))
)");
  const std::string out =
      Run("/usr/bin/python3 " + ShellQuote((dir / "post.py").string()) + " " + ShellQuote(address) +
          " " + ShellQuote(target) + " " + ShellQuote((dir / "in").string()) + " " +
          ShellQuote(header_name) + " " + ShellQuote(header_value));
  const size_t nl = out.find('\n');
  REQUIRE(nl != std::string::npos);
  return {.status = std::stoi(out.substr(0, nl)), .headers = "", .body = out.substr(nl + 1)};
}

std::string JsonBatch(const std::string& gateway, uint64_t epoch, uint64_t sequence,
                      const std::string& series) {
  return "{\"gateway_id\":\"" + gateway + "\",\"epoch\":" + std::to_string(epoch) +
         ",\"sequence\":" + std::to_string(sequence) + ",\"series\":[" + series + "]}";
}

std::string Series(const std::string& sensor, const std::vector<int64_t>& ts,
                   const std::vector<double>& values) {
  std::string out = "{\"sensor_id\":\"" + sensor + "\",\"timestamps_ms\":[";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? "," : "") + std::to_string(ts[i]);
  out += "],\"values\":[";
  for (size_t i = 0; i < values.size(); ++i) {
    std::ostringstream v;
    v << values[i];
    out += (i ? "," : "") + v.str();
  }
  return out + "]}";
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_CASE("HTTP JSON: a batch is stored, acked like gRPC, and a resend is a duplicate",
          "[e2e][http]") {
  VigildProcess proc(HttpOptions());
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;
  const std::string body =
      JsonBatch("gw-1", 7, 1,
                Series("s-1", {t0, t0 + 1000, t0 + 2000}, {20.5, 21.25, 22}) + "," +
                    Series("m-1", {t0}, {1.5}) + "," + Series("nope", {t0}, {1}) + "," +
                    "{\"sensor_id\":\"s-2\",\"timestamps_ms\":[" + std::to_string(t0) + "," +
                    std::to_string(t0 + 1000) + "],\"values\":[0.5,\"NaN\"]}");
  HttpResult r = Curl(http, "/api/v1/ingest", body, {"Content-Type: application/json"});
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"stored_readings\":4") != std::string::npos);
  CHECK(r.body.find("\"duplicate\":false") != std::string::npos);
  CHECK(r.body.find("\"rejected_readings\":3") != std::string::npos);
  // Another enterprise's sensor and an unknown one: refused by series index.
  CHECK(r.body.find("{\"series_index\":1,\"sensor_id\":\"m-1\",\"reading_index\":-1,\"reason\":"
                    "\"SENSOR_OF_ANOTHER_ENTERPRISE\"") != std::string::npos);
  CHECK(r.body.find("{\"series_index\":2,\"sensor_id\":\"nope\",\"reading_index\":-1,\"reason\":"
                    "\"UNKNOWN_SENSOR\"") != std::string::npos);

  const std::vector<Reading> s1 = ReadAll(proc.query(), "s-1", t0, t0 + 10'000);
  CHECK(ToString(s1) ==
        ToString(std::vector<Reading>{{t0, 20.5, 0}, {t0 + 1000, 21.25, 0}, {t0 + 2000, 22, 0}}));
  CHECK(ReadAll(proc.query(), "m-1", t0, t0 + 10'000).empty());

  // The same batch again: acked duplicate, nothing stored twice.
  r = Curl(http, "/api/v1/ingest", body);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"duplicate\":true") != std::string::npos);
  CHECK(r.body.find("\"stored_readings\":0") != std::string::npos);
  CHECK(ReadAll(proc.query(), "s-1", t0, t0 + 10'000).size() == 3);

  // Kept-alive connections and the next sequence go on as usual.
  r = Curl(http, "/api/v1/ingest", JsonBatch("gw-1", 7, 2, Series("s-1", {t0 + 3000}, {23})));
  CHECK(r.status == 200);
  CHECK(ReadAll(proc.query(), "s-1", t0, t0 + 10'000).size() == 4);
}

TEST_CASE("HTTP line protocol: stored, a resent body stores nothing twice, bad lines named",
          "[e2e][http]") {
  VigildProcess proc(HttpOptions(", line_protocol: { sensor_id: \"{site}.{field}\" }"));
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = (NowMs() - 60'000) / 1000 * 1000;
  const auto ns = [](int64_t ms) { return std::to_string(ms * 1'000'000); };
  const std::string body =
      "# a comment line\n"
      "plant,site=plant t1=20.5,p1=1i " +
      ns(t0) + "\n" + "plant,site=plant t1=21.5 " + ns(t0 + 1000) + "\n" + "plant,site=mine t1=3 " +
      ns(t0) + "\n" +                                 // unknown sensor
      "plant,site=plant t1= " + ns(t0) + "\n" +       // malformed
      "plant t1=4 " + ns(t0) + "\n" +                 // no site tag
      "plant,site=plant p1=\"x\" " + ns(t0) + "\n" +  // a string
      "plant,site=plant p1=2.5 " + ns(t0 + 2000) + "\n";
  HttpResult r = PythonPost(http, "/write?gateway=gw-1", body);
  INFO(r.body);
  REQUIRE(r.status == 400);
  CHECK(r.body.find("partial write: 4 readings rejected, 4 stored") != std::string::npos);
  CHECK(r.body.find("{\"line\":4,\"field\":\"\",\"reason\":\"UNKNOWN_SENSOR\",\"detail\":\"sensor "
                    "'mine.t1' is not in the registry\"}") != std::string::npos);
  CHECK(r.body.find("{\"line\":5,\"field\":\"\",\"reason\":\"MALFORMED_LINE\"") !=
        std::string::npos);
  CHECK(r.body.find("{\"line\":6,\"field\":\"t1\",\"reason\":\"MISSING_TAG\"") !=
        std::string::npos);
  CHECK(r.body.find("{\"line\":7,\"field\":\"p1\",\"reason\":\"STRING_FIELD\"") !=
        std::string::npos);
  CHECK(ToString(ReadAll(proc.query(), "plant.t1", t0, t0 + 10'000)) ==
        ToString(std::vector<Reading>{{t0, 20.5, 0}, {t0 + 1000, 21.5, 0}}));
  CHECK(ToString(ReadAll(proc.query(), "plant.p1", t0, t0 + 10'000)) ==
        ToString(std::vector<Reading>{{t0, 1, 0}, {t0 + 2000, 2.5, 0}}));

  // Resent (as a client does after a timeout), and once more gzipped: the
  // same (sensor, timestamp) readings, nothing stored twice.
  r = PythonPost(http, "/write?gateway=gw-1", body);
  CHECK(r.status == 400);
  r = Curl(http, "/api/v2/write?bucket=gw-1&precision=ns", Gzip(body), {"Content-Encoding: gzip"});
  CHECK(r.status == 400);
  CHECK(ReadAll(proc.query(), "plant.t1", t0, t0 + 10'000).size() == 2);
  CHECK(ReadAll(proc.query(), "plant.p1", t0, t0 + 10'000).size() == 2);

  // A clean body: 204; precision=s; also survives a restart (its numbering
  // resumes above the stored one, so nothing is taken for a duplicate).
  r = Curl(http, "/write?db=gw-1&precision=s",
           "plant,site=plant t1=30 " + std::to_string(t0 / 1000 + 5) + "\n");
  CHECK(r.status == 204);
  proc.Terminate();
  proc.Restart();
  r = Curl(HttpAddress(proc), "/write?gateway=gw-1&precision=ms",
           "plant,site=plant t1=31 " + std::to_string(t0 + 6000));
  CHECK(r.status == 204);
  CHECK(ReadAll(proc.query(), "plant.t1", t0, t0 + 10'000).size() == 4);
}

TEST_CASE("HTTP line protocol from InfluxDB's own Python client (python3-influxdb)",
          "[e2e][http]") {
  VigildProcess proc(HttpOptions());
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;
  testing::TempDir dir;
  WriteFile(dir / "client.py", R"(import sys
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
host, port = sys.argv[1].rsplit(':', 1)
t0 = int(sys.argv[2])
# database = the gateway that writes (db=gw-1).
c = InfluxDBClient(host=host, port=int(port), database='gw-1', timeout=30)
points = [{'measurement': 's-1', 'time': t0 + i * 1000, 'fields': {'value': 20.0 + i}}
          for i in range(3)]
points.append({'measurement': 's-2', 'time': t0, 'tags': {'unit': 'MPa'}, 'fields': {'value': 2}})
print('written', c.write_points(points, time_precision='ms', batch_size=2))
try:
    c.write_points([{'measurement': 'm-1', 'time': t0, 'fields': {'value': 1.0}}],
                   time_precision='ms')
    print('no error')
except InfluxDBClientError as e:
    print('refused', e.code, e.content)
)");
  const std::string out = Run("/usr/bin/python3 " + ShellQuote((dir / "client.py").string()) + " " +
                              ShellQuote(http) + " " + std::to_string(t0));
  INFO(out);
  CHECK(out.find("written True") != std::string::npos);
  // Another enterprise's sensor: the client sees InfluxDB's partial-write error.
  CHECK(out.find("refused 400") != std::string::npos);
  CHECK(out.find("SENSOR_OF_ANOTHER_ENTERPRISE") != std::string::npos);
  CHECK(ToString(ReadAll(proc.query(), "s-1", t0, t0 + 10'000)) ==
        ToString(std::vector<Reading>{{t0, 20, 0}, {t0 + 1000, 21, 0}, {t0 + 2000, 22, 0}}));
  // An integer field (value=2i) is a reading too.
  CHECK(ToString(ReadAll(proc.query(), "s-2", t0, t0 + 10'000)) ==
        ToString(std::vector<Reading>{{t0, 2, 0}}));
  CHECK(ReadAll(proc.query(), "m-1", t0, t0 + 10'000).empty());
}

TEST_CASE("HTTP hostile bodies get a clear error and vigild stays up", "[e2e][http]") {
  VigildProcess proc(HttpOptions(", max_body_bytes: 1MiB, max_decompressed_bytes: 4MiB"));
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;

  // Truncated JSON: the offset, line and column of the end.
  const std::string truncated = "{\"gateway_id\":\"gw-1\",\"sequence\":1,\n\"series\":[{\"sen";
  HttpResult r = Curl(http, "/api/v1/ingest", truncated);
  CHECK(r.status == 400);
  CHECK(r.body.find("\"offset\":" + std::to_string(truncated.size())) != std::string::npos);
  CHECK(r.body.find("\"line\":2") != std::string::npos);
  // Invalid UTF-8 in a string.
  r = Curl(http, "/api/v1/ingest", "{\"gateway_id\":\"gw-\xff\xfe\",\"sequence\":1}");
  CHECK(r.status == 400);
  CHECK(r.body.find("Invalid encoding") != std::string::npos);
  CHECK(r.body.find("\"offset\":18") != std::string::npos);
  // A body over http.max_body_bytes: 413 from its Content-Length, unread.
  r = Curl(http, "/write?gateway=gw-1", std::string(2u << 20, 'x'));
  CHECK(r.status == 413);
  // A line with 10,000 fields.
  std::string wide = "s-1 ";
  for (int i = 0; i < 10'000; ++i) wide += (i ? ",f" : "f") + std::to_string(i) + "=1";
  r = Curl(http, "/write?gateway=gw-1", wide);
  CHECK(r.status == 400);
  CHECK(r.body.find("line 1: column") != std::string::npos);
  CHECK(r.body.find("more than 1000 fields") != std::string::npos);
  // A gzip bomb: 64 MiB of zeros in about 64 KiB, stopped at 4 MiB.
  const std::string bomb = Gzip(std::string(64u << 20, '0'));
  REQUIRE(bomb.size() < (1u << 20));
  r = Curl(http, "/write?gateway=gw-1", bomb, {"Content-Encoding: gzip"});
  CHECK(r.status == 413);
  CHECK(r.body.find("decompresses to more than") != std::string::npos);
  // More readings than one batch may hold (ingest.max_readings_per_batch,
  // 100,000): 413, nothing stored, and the lines past the limit are not kept.
  std::string many;
  for (int i = 0; i <= 100'000; ++i)
    many += "s-1 value=1 " + std::to_string(t0 + 10'000 + i) + "\n";
  r = Curl(http, "/write?gateway=gw-1&precision=ms", Gzip(many), {"Content-Encoding: gzip"});
  CHECK(r.status == 413);
  CHECK(r.body.find("split the body") != std::string::npos);
  CHECK(ReadAll(proc.query(), "s-1", t0 + 10'000, t0 + 111'000).empty());
  // A sensor id longer than any registered one: rejected on its line, unkept.
  r = Curl(http, "/write?gateway=gw-1&precision=ms",
           std::string(200, 'x') + " value=1 " + std::to_string(t0) + "\ns-1 value=2 " +
               std::to_string(t0 + 2));
  CHECK(r.status == 400);
  CHECK(r.body.find(R"({"line":1,"field":"value","reason":"ID_TOO_LONG","detail":"sensor id is )"
                    R"(200 bytes; ids are at most 128"})") != std::string::npos);
  CHECK(r.body.find(R"("stored_readings":1,)") != std::string::npos);
  // Not gzip at all, and a truncated gzip stream.
  r = Curl(http, "/write?gateway=gw-1", "plain", {"Content-Encoding: gzip"});
  CHECK(r.status == 400);
  r = Curl(http, "/write?gateway=gw-1", Gzip("s-1 value=1\n").substr(0, 12),
           {"Content-Encoding: gzip"});
  CHECK(r.status == 400);
  CHECK(r.body.find("truncated") != std::string::npos);
  // Garbage instead of HTTP, on a raw socket.
  const std::string garbage =
      Run("/usr/bin/python3 -c " +
          ShellQuote("import socket,sys\nh,p=sys.argv[1].rsplit(':',1)\n"
                     "s=socket.create_connection((h,int(p)),timeout=10)\n"
                     "s.sendall(b'\\x16\\x03\\x01 not http at all\\r\\n\\r\\n')\n"
                     "sys.stdout.write(s.recv(4096).decode('latin-1'))") +
          " " + ShellQuote(http));
  CHECK(garbage.starts_with("HTTP/1.1 400"));
  // Wrong method, unknown path, bad precision, no gateway named.
  CHECK(Curl(http, "/nowhere", "").status == 404);
  CHECK(Run("curl -s -o /dev/null -w '%{http_code}' " + ShellQuote("http://" + http + "/write")) ==
        "405");
  CHECK(Curl(http, "/write?gateway=gw-1&precision=fortnight", "s-1 value=1").status == 400);
  CHECK(Curl(http, "/write", "s-1 value=1").status == 400);
  CHECK(Curl(http, "/write?gateway=gw-nowhere", "s-1 value=1").status == 403);

  // Still serving, and storing.
  REQUIRE(proc.running());
  r = Curl(http, "/write?gateway=gw-1&precision=ms", "s-1 value=5 " + std::to_string(t0));
  CHECK(r.status == 204);
  CHECK(ReadAll(proc.query(), "s-1", t0, t0 + 1).size() == 1);
}

TEST_CASE("HTTP callers: tokens and gateways as for gRPC, 429 with Retry-After over the rate",
          "[e2e][http][security]") {
  VigildProcess proc({.config_yaml = std::string("storage: { durability: wal }\n") + kAuth +
                                     "limits: { readings_per_second: 10 }\n"
                                     "http: { listen: \"127.0.0.1:0\" }\n",
                      .registry_yaml = kRegistry});
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;
  const std::string batch = JsonBatch("gw-1", 1, 1, Series("s-1", {t0}, {1}));

  CHECK(Curl(http, "/api/v1/ingest", batch).status == 401);
  CHECK(Curl(http, "/api/v1/ingest", batch, {"Authorization: Bearer wrong"}).status == 401);
  // Another gateway's token, and a center's (viewer) token.
  CHECK(Curl(http, "/api/v1/ingest", batch, {"Authorization: Bearer gw-9-secret"}).status == 403);
  CHECK(Curl(http, "/api/v1/ingest", batch, {"Authorization: Bearer shandong-secret"}).status ==
        403);
  CHECK(Curl(http, "/write?gateway=gw-1", "s-1 value=1", {"Authorization: Token gw-9-secret"})
            .status == 403);
  // gw-9 writing gw-1's enterprise's sensor as itself: the series is refused.
  HttpResult r = Curl(http, "/write", "s-1 value=1", {"Authorization: Token gw-9-secret"});
  CHECK(r.status == 400);
  CHECK(r.body.find("SENSOR_OF_ANOTHER_ENTERPRISE") != std::string::npos);
  // Its own token: stored (the gateway is the token's when not named).
  r = Curl(http, "/api/v1/ingest", batch, {"Authorization: Bearer gw-1-secret"});
  CHECK(r.status == 200);
  // 10 readings/s with a burst of 10: 30 more readings are over the rate.
  std::string many = "s-2 value=1 ";
  std::string lines;
  for (int i = 0; i < 30; ++i) lines += many + std::to_string((t0 + i) * 1'000'000) + "\n";
  r = Curl(http, "/write", lines, {"Authorization: Bearer gw-1-secret"});
  CHECK(r.status == 429);
  CHECK(r.headers.find("Retry-After: ") != std::string::npos);
  REQUIRE(proc.running());
}

TEST_CASE("HTTP: 503 with Retry-After while the disk is nearly full, stored once space is back",
          "[e2e][http][faults][disk]") {
  if (geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs");
    return;
  }
  testing::TempDir dir;
  SmallDisk disk(dir / "small");
  if (!disk.mounted()) {
    WARN("mount of a tmpfs refused (no CAP_SYS_ADMIN): not run");
    return;
  }
  VigildProcess::Options options = HttpOptions();
  options.config_yaml += "storage:\n  min_free_space: 64MiB\n";
  options.config_yaml.replace(0, options.config_yaml.find('\n') + 1, "");  // one storage section
  options.data_dir = dir / "small" / "data";
  VigildProcess proc(options);
  proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;
  const auto line = [&](int i) {
    return "s-1 value=" + std::to_string(i) + " " + std::to_string(t0 + i);
  };
  REQUIRE(Curl(http, "/write?gateway=gw-1&precision=ms", line(0)).status == 204);

  // 32 MiB free, below the 64 MiB floor.
  const std::filesystem::path filler = dir / "small" / "filler";
  REQUIRE(disk.free_bytes() > (uint64_t{96} << 20));
  REQUIRE(disk.FillLeaving(filler, uint64_t{32} << 20));
  // Refused within a few seconds (free space is measured at most every 100 ms).
  HttpResult r;
  int i = 1;
  for (; i < 50; ++i) {
    r = Curl(http, "/write?gateway=gw-1&precision=ms", line(i));
    if (r.status != 204) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(r.body);
  CHECK(r.status == 503);
  CHECK(r.headers.find("Retry-After: 1") != std::string::npos);
  CHECK(r.body.find("nearly full") != std::string::npos);
  HttpResult json = Curl(http, "/api/v1/ingest", JsonBatch("gw-1", 1, 1, Series("s-2", {t0}, {7})));
  CHECK(json.status == 503);

  // Space freed: the same requests, resent, are stored.
  std::filesystem::remove(filler);
  for (int k = 0; k < 100; ++k) {
    r = Curl(http, "/write?gateway=gw-1&precision=ms", line(i));
    if (r.status == 204) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(r.status == 204);
  json = Curl(http, "/api/v1/ingest", JsonBatch("gw-1", 1, 1, Series("s-2", {t0}, {7})));
  CHECK(json.status == 200);
  CHECK(json.body.find("\"stored_readings\":1") != std::string::npos);
  CHECK(ReadAll(proc.query(), "s-1", t0, t0 + 1000).size() == static_cast<size_t>(i + 1));
  REQUIRE(proc.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
