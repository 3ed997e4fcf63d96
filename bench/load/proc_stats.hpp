// What the benchmark reads about a broker process from /proc: CPU seconds (utime + stime of
// /proc/<pid>/stat) and resident memory (VmRSS, and the peak VmHWM, of /proc/<pid>/status).
// Linux only; a missing process reads as zeros.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace gw::bench {

struct ProcSample {
  double cpu_s = 0;               // user + system, since the process started
  std::uint64_t rss_kb = 0;       // VmRSS
  std::uint64_t peak_rss_kb = 0;  // VmHWM
};

ProcSample sample_process(pid_t pid);
// CPU seconds used so far by this process (the load generator itself), from getrusage.
double self_cpu_seconds();

}  // namespace gw::bench
