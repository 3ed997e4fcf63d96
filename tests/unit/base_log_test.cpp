// The logger's pure parts: the token-bucket line limiter with its "suppressed N lines" summary (time
// given by the test), the syslog priority of each level, and the file output (a real temporary file).
#include <gtest/gtest.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gateway/base/log.hpp"

namespace gw::log {
namespace {

TEST(LineLimiter, AdmitsTheBurstThenTheRate) {
  LineLimiter l(10, 5);  // 10 lines/s, 5 at once
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += l.admit(0) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(l.suppressed_total(), 95u);
  // 100 ms earn one line.
  EXPECT_TRUE(l.admit(100));
  EXPECT_FALSE(l.admit(100));
  // A long pause refills only up to the burst.
  admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += l.admit(60'000) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
}

TEST(LineLimiter, ZeroMeansNoLimit) {
  LineLimiter l(0, 1);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(l.admit(0));
  EXPECT_EQ(l.take_summary(10'000), 0u);
}

TEST(LineLimiter, SummaryOnceTheRateDrops) {
  LineLimiter l(1, 2);
  for (int i = 0; i < 12; ++i) l.admit(0);  // 2 admitted, 10 suppressed
  // Still inside the storm: no summary yet.
  EXPECT_EQ(l.take_summary(500), 0u);
  l.admit(900);  // one more suppressed (0.9 lines of credit)
  EXPECT_EQ(l.take_summary(1500), 0u) << "less than a quiet second since the last suppressed line";
  EXPECT_EQ(l.take_summary(1900), 11u);
  EXPECT_EQ(l.take_summary(5000), 0u) << "reported once";
}

TEST(LineLimiter, SummaryEveryMinuteDuringALongStorm) {
  LineLimiter l(1, 1);
  std::uint64_t reported = 0;
  int summaries = 0;
  // One line every 10 ms for three minutes: the rate never drops.
  for (Millis t = 0; t <= 180'000; t += 10) {
    l.admit(t);
    if (std::uint64_t n = l.take_summary(t)) {
      reported += n;
      ++summaries;
    }
  }
  EXPECT_EQ(summaries, 3);
  // Whatever was not reported yet comes after the storm.
  reported += l.take_summary(200'000);
  EXPECT_EQ(reported, l.suppressed_total());
}

TEST(LogNames, SyslogPriorityOfEachLevel) {
  EXPECT_EQ(syslog_priority(Level::Trace), LOG_DEBUG);
  EXPECT_EQ(syslog_priority(Level::Debug), LOG_DEBUG);
  EXPECT_EQ(syslog_priority(Level::Info), LOG_INFO);
  EXPECT_EQ(syslog_priority(Level::Warn), LOG_WARNING);
  EXPECT_EQ(syslog_priority(Level::Error), LOG_ERR);
}

TEST(LogNames, Outputs) {
  EXPECT_EQ(parse_output("stderr"), Output::Stderr);
  EXPECT_EQ(parse_output("syslog"), Output::Syslog);
  EXPECT_EQ(parse_output("file"), Output::File);
  EXPECT_EQ(parse_output("journal"), std::nullopt);
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(LogFile, LinesGoToTheFileAndTheLimitHolds) {
  char dir[] = "/tmp/base_log_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/out.log";
  SinkOptions o;
  o.output = Output::File;
  o.file = path;
  o.max_lines_per_second = 1;
  o.burst = 3;
  ASSERT_EQ(configure(o), std::nullopt);
  set_level(Level::Info);
  for (int i = 0; i < 50; ++i) GW_LOG(Info, "test", "line %d", i);
  GW_LOG(Debug, "test", "not at this level");
  const std::string text = read_all(path);
  EXPECT_NE(text.find("INFO  test: line 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("INFO  test: line 2\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("line 3\n"), std::string::npos) << "past the burst of 3: " << text;
  EXPECT_EQ(text.find("not at this level"), std::string::npos);
  // Switching the sink reports what the old limit held back.
  SinkOptions back;
  back.output = Output::File;
  back.file = path;
  back.max_lines_per_second = 0;
  ASSERT_EQ(configure(back), std::nullopt);
  EXPECT_NE(read_all(path).find("WARN  log: suppressed 47 lines"), std::string::npos) << read_all(path);

  SinkOptions bad;
  bad.output = Output::File;
  bad.file = std::string(dir) + "/no/such/dir/out.log";
  auto err = configure(bad);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("cannot open log file"), std::string::npos) << *err;
  GW_LOG(Info, "test", "still to the old file");
  EXPECT_NE(read_all(path).find("still to the old file"), std::string::npos);

  ASSERT_EQ(configure(SinkOptions{}), std::nullopt);
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace gw::log
