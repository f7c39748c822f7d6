// Linked into the fuzz targets that parse protobuf: protobuf logs a line for
// every string field with invalid UTF-8, which mutated inputs are full of.
#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
