#include "service/json_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "sonar/v1/ingest.pb.h"

namespace sonar::service {
namespace {

using ::testing::HasSubstr;

TEST(JsonLog, ProtobufLogLinesBecomeJsonEventsWithoutTheValue) {
  ::testing::internal::CaptureStderr();
  InitJsonLogging("json-log-test", "info");
  // proto3 strings must be UTF-8: protobuf logs an error naming the field when serializing.
  v1::Event event;
  event.set_client_ref(std::string("ZZSECRETREF\xC3\x28\xFF", 14));
  std::string bytes;
  (void)event.SerializeToString(&bytes);
  spdlog::default_logger()->flush();
  const std::string log = ::testing::internal::GetCapturedStderr();

  std::istringstream lines(log);
  std::string line, protobuf_line;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
    if (line.find("\"event\":\"protobuf_log\"") != std::string::npos) protobuf_line = line;
  }
  ASSERT_FALSE(protobuf_line.empty()) << log;
  EXPECT_THAT(protobuf_line, HasSubstr("\"level\":\"error\""));
  EXPECT_THAT(protobuf_line, HasSubstr("\"program\":\"json-log-test\""));
  EXPECT_THAT(protobuf_line, HasSubstr("sonar.v1.Event.client_ref"));
  EXPECT_THAT(protobuf_line, HasSubstr("invalid UTF-8"));
  EXPECT_THAT(protobuf_line, HasSubstr("\"source\":\""));
  EXPECT_EQ(log.find("ZZSECRETREF"), std::string::npos);
  EXPECT_EQ(log.find("[libprotobuf"), std::string::npos);
}

}  // namespace
}  // namespace sonar::service
