// netpie-edge-manpage: writes netpie-edge.8 at build time from the command line's own definition
// (cli.cpp), so the OPTIONS section is --help's text. Usage: netpie-edge-manpage <out> <example config path>.
// The few paragraphs that only a man page has (files, exit status) are here.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "gateway/cli.hpp"

namespace {

// Text for a roff body line: a backslash is written \e, and a line may not start with a control character.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

// "-c" -> "\fB\-c\fR"
std::string flag(const std::string& name) {
  std::string out = "\\fB";
  for (char c : name) {
    if (c == '-') out += '\\';
    out += c;
  }
  return out + "\\fR";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: netpie-edge-manpage <out.8> <installed example config>\n");
    return 2;
  }
  CLI::App app;
  gw::cli::CommandLine line;
  gw::cli::define(app, line);

  std::ofstream f(argv[1], std::ios::trunc);
  f << ".TH NETPIE-EDGE 8 \"\" \"netpie-edge " << NETPIE_EDGE_VERSION << "\" \"System Administration\"\n"
    << ".nh\n"  // paths and option names are not hyphenated
    << ".SH NAME\nnetpie-edge \\- " << roff(gw::cli::kSummary) << "\n"
    << ".SH SYNOPSIS\n.B netpie-edge\n[\\fIOPTIONS\\fR]\n"
    << ".SH DESCRIPTION\n"
    << "netpie-edge is a local MQTT broker (3.1, 3.1.1 and 5.0) for constrained devices, with SQLite "
       "store-and-forward to cloud uplinks and a NETPIE-compatible endpoint for the official microgear "
       "libraries.\n.PP\n"
    << roff(app.get_footer()) << "\n"
    << ".SH OPTIONS\n";
  for (const CLI::Option* opt : app.get_options()) {
    f << ".TP\n";
    bool first = true;
    for (const auto& names : {opt->get_snames(), opt->get_lnames()}) {
      for (const std::string& n : names) {
        f << (first ? "" : ", ") << flag((n.size() == 1 ? "-" : "--") + n);
        first = false;
      }
    }
    if (opt->get_expected_min() > 0) {
      // CLI11's type name carries the check after a colon ("PORT:INT in [0 - 65535]"); the name is enough.
      const std::string type = opt->get_type_name();
      f << " \\fI" << roff(type.substr(0, type.find(':'))) << "\\fR";
    }
    f << "\n" << roff(opt->get_description()) << "\n";
  }
  f << ".SH FILES\n"
    << ".TP\n\\fI" << roff(argv[2]) << "\\fR\n"
    << "The example configuration, every key with its default and a comment; a copy is the usual start "
       "of a \\fB\\-c\\fR file.\n"
    << ".TP\n\\fIstate_dir\\fR/netpie-edge.db\nThe SQLite database: sessions, retained messages, the "
       "outbox, tokens. Mode 0600, in a directory of mode 0700.\n"
    << ".TP\n\\fIstate_dir\\fR/netpie-edge.lock\nHeld (flock) by the running daemon, with its process "
       "id: a second daemon on the same state directory exits with status 1.\n"
    << ".SH EXIT STATUS\n"
    << "0 after SIGTERM or SIGINT and a clean stop, or a successful \\fB\\-\\-check\\-config\\fR; 1 for "
       "a configuration error or a failed start (a port in use, a state directory in use or not "
       "writable); above 100 for a command line error (CLI11's exit codes).\n"
    << ".SH SEE ALSO\n\\fBmosquitto\\fR(8)\n";
  f.flush();
  if (!f) {
    std::fprintf(stderr, "netpie-edge-manpage: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
