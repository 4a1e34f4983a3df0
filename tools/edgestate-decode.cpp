// edgestate-decode: turns the binary change-log of the `edgestate` output
// plugin (as pg_recvlogical writes it: frames each followed by a newline) into
// JSON lines, one per reading. See docs/changelog-format.md.
//
//   pg_recvlogical -d db --slot s --start -o format=binary -f - | edgestate-decode -
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "core/changelog.h"

namespace {

using edgestate::core::ChangelogDecoder;
using edgestate::core::ChangelogError;
using edgestate::core::ChangelogFrame;

constexpr size_t kChunk = size_t{64} * 1024;

void usage(FILE *out) {
  std::fputs(
      "Usage: edgestate-decode [FILE|-]\n"
      "\n"
      "Decodes the binary change-log of the edgestate logical decoding output plugin\n"
      "(frames each followed by a newline, as pg_recvlogical writes them) and writes\n"
      "one JSON object per reading to standard output, one per line. Reads FILE, or\n"
      "standard input when FILE is '-' or absent, as a stream: lines are written as\n"
      "soon as each transaction is complete. A transaction split into several frames\n"
      "is written when its last frame arrives; one left unfinished by a new session\n"
      "(which resends it whole) or by the end of the input is dropped, with a note\n"
      "on standard error.\n"
      "\n"
      "  pg_recvlogical -d DB --slot SLOT --start -o format=binary -f - | edgestate-decode -\n"
      "\n"
      "Exit status: 0 at a clean end of input, 1 on a malformed or truncated frame\n"
      "(reported with its byte offset) or an I/O error, 2 on a usage error.\n",
      out);
}

bool write_all(const std::string &text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
}

void note_discarded(uint64_t lsn) {
  std::fprintf(stderr, "edgestate-decode: discarding an unfinished transaction at %X/%X\n",
               static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xFFFFFFFFu));
}

}  // namespace

int main(int argc, char **argv) {
  const char *path = "-";
  int files = 0;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!options_done && arg == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && (arg == "--help" || arg == "-h")) {
      usage(stdout);
      return 0;
    }
    if (!options_done && arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "edgestate-decode: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
    if (++files > 1) {
      std::fprintf(stderr, "edgestate-decode: one input at most\n");
      usage(stderr);
      return 2;
    }
    path = argv[i];
  }

  int fd = 0;
  if (std::strcmp(path, "-") != 0) {
    fd = open(path, O_RDONLY);
    if (fd < 0) {
      std::fprintf(stderr, "edgestate-decode: cannot open %s: %s\n", path, std::strerror(errno));
      return 1;
    }
  }

  ChangelogDecoder decoder;
  ChangelogFrame frame{};
  std::vector<uint8_t> buffer;
  size_t start = 0;     // first undecoded byte in buffer
  uint64_t offset = 0;  // stream offset of buffer[0]
  // The JSON lines of a transaction whose frames so far had the continued
  // flag: written when its last frame arrives, dropped when a new stream
  // starts (the new session resends the whole transaction) or the input ends.
  std::string pending;
  bool unfinished = false;
  uint64_t unfinished_lsn = 0;
  uint64_t seq = 0;  // of the next reading in its transaction
  bool eof = false;
  for (;;) {
    // Decode every complete frame in the buffer.
    for (;;) {
      size_t consumed = 0;
      const ChangelogError error =
          decoder.next(buffer.data() + start, buffer.size() - start, &consumed, &frame);
      if (error == ChangelogError::kOk) {
        if (unfinished && frame.stream_start) {
          note_discarded(unfinished_lsn);
          pending.clear();
          unfinished = false;
        }
        // The decoder guarantees that a frame after a continued one is a
        // stream start or belongs to the same transaction.
        if (!unfinished) seq = 0;
        for (const auto &reading : frame.readings) {
          pending += edgestate::core::changelog_reading_json(frame, reading, seq++);
          pending.push_back('\n');
        }
        if (frame.continued) {
          unfinished = true;
          unfinished_lsn = frame.commit_lsn;
        } else {
          unfinished = false;
          if (!write_all(pending)) {
            std::fprintf(stderr, "edgestate-decode: cannot write: %s\n", std::strerror(errno));
            return 1;
          }
          pending.clear();
        }
        start += consumed;
        continue;
      }
      const size_t left = buffer.size() - start;
      // Where the frame begins (after its separating newline).
      const uint64_t at = offset + start + (left > 0 && buffer[start] == '\n' ? 1 : 0);
      if (error == ChangelogError::kNeedMoreData) {
        if (!eof) break;
        if (left == 0 || (left == 1 && buffer[start] == '\n')) {
          // A session that stopped inside a transaction: the next one resends it.
          if (unfinished) note_discarded(unfinished_lsn);
          if (std::fflush(stdout) != 0) {
            std::fprintf(stderr, "edgestate-decode: cannot write: %s\n", std::strerror(errno));
            return 1;
          }
          return 0;
        }
      }
      std::fflush(stdout);
      std::fprintf(stderr, "edgestate-decode: %s at byte %" PRIu64 "\n",
                   edgestate::core::describe(error), at);
      return 1;
    }

    // Keep the partial tail, then read more; flush first so that a consumer
    // sees every complete frame while we wait.
    if (start > 0) {
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(start));
      offset += start;
      start = 0;
    }
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "edgestate-decode: cannot write: %s\n", std::strerror(errno));
      return 1;
    }
    const size_t old = buffer.size();
    buffer.resize(old + kChunk);
    ssize_t n;
    do {
      n = read(fd, buffer.data() + old, kChunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      std::fprintf(stderr, "edgestate-decode: cannot read %s: %s\n",
                   fd == 0 ? "standard input" : path, std::strerror(errno));
      return 1;
    }
    buffer.resize(old + static_cast<size_t>(n));
    if (n == 0) eof = true;
  }
}
